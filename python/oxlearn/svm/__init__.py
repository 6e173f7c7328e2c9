"""Support vector machines, accelerated: libsvm's solver in Rust."""

from oxlearn.svm._classes import SVC, SVR, NuSVC, NuSVR, OneClassSVM

__all__ = ["SVC", "NuSVC", "SVR", "NuSVR", "OneClassSVM"]
