//! The Moré–Thuente line search (MINPACK-2 `dcsrch`/`dcstep`), as in
//! scipy's L-BFGS-B and `scalar_search_wolfe1`: a step satisfying the
//! sufficient-decrease and strong curvature conditions
//! `f(stp) <= f(0) + ftol·stp·f'(0)` and `|f'(stp)| <= gtol·|f'(0)|`.

/// What the search asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Task {
    /// Evaluate the function and its derivative at the returned step.
    Fg,
    /// The returned step satisfies both conditions.
    Convergence,
    /// No better step can be found (rounding, step bounds, interval width).
    Warning(&'static str),
    /// The inputs were invalid (e.g. not a descent direction).
    Error(&'static str),
}

/// State of one line search.
#[derive(Debug, Clone)]
pub(crate) struct Dcsrch {
    ftol: f64,
    gtol: f64,
    xtol: f64,
    stpmin: f64,
    stpmax: f64,
    brackt: bool,
    stage: u8,
    finit: f64,
    ginit: f64,
    gtest: f64,
    width: f64,
    width1: f64,
    stx: f64,
    fx: f64,
    gx: f64,
    sty: f64,
    fy: f64,
    gy: f64,
    stmin: f64,
    stmax: f64,
}

const P5: f64 = 0.5;
const P66: f64 = 0.66;
const XTRAPL: f64 = 1.1;
const XTRAPU: f64 = 4.0;

impl Dcsrch {
    pub(crate) fn new(ftol: f64, gtol: f64, xtol: f64, stpmin: f64, stpmax: f64) -> Self {
        Dcsrch {
            ftol,
            gtol,
            xtol,
            stpmin,
            stpmax,
            brackt: false,
            stage: 1,
            finit: 0.0,
            ginit: 0.0,
            gtest: 0.0,
            width: 0.0,
            width1: 0.0,
            stx: 0.0,
            fx: 0.0,
            gx: 0.0,
            sty: 0.0,
            fy: 0.0,
            gy: 0.0,
            stmin: 0.0,
            stmax: 0.0,
        }
    }

    /// Starts a search at step `stp` from `f = f(0)`, `g = f'(0)`.
    pub(crate) fn start(&mut self, stp: f64, f: f64, g: f64) -> (f64, Task) {
        let mut err = None;
        if stp < self.stpmin {
            err = Some("STP < STPMIN");
        }
        if stp > self.stpmax {
            err = Some("STP > STPMAX");
        }
        if g >= 0.0 {
            err = Some("INITIAL G >= 0");
        }
        if self.stpmax < self.stpmin {
            err = Some("STPMAX < STPMIN");
        }
        if let Some(e) = err {
            return (stp, Task::Error(e));
        }
        self.brackt = false;
        self.stage = 1;
        self.finit = f;
        self.ginit = g;
        self.gtest = self.ftol * g;
        self.width = self.stpmax - self.stpmin;
        self.width1 = self.width / P5;
        self.stx = 0.0;
        self.fx = f;
        self.gx = g;
        self.sty = 0.0;
        self.fy = f;
        self.gy = g;
        self.stmin = 0.0;
        self.stmax = stp + XTRAPU * stp;
        (stp, Task::Fg)
    }

    /// Continues the search with `f = f(stp)`, `g = f'(stp)`.
    pub(crate) fn iterate(&mut self, mut stp: f64, f: f64, g: f64) -> (f64, Task) {
        let ftest = self.finit + stp * self.gtest;
        if self.stage == 1 && f <= ftest && g >= 0.0 {
            self.stage = 2;
        }
        let mut task = None;
        if self.brackt && (stp <= self.stmin || stp >= self.stmax) {
            task = Some(Task::Warning("ROUNDING ERRORS PREVENT PROGRESS"));
        }
        if self.brackt && self.stmax - self.stmin <= self.xtol * self.stmax {
            task = Some(Task::Warning("XTOL TEST SATISFIED"));
        }
        if stp == self.stpmax && f <= ftest && g <= self.gtest {
            task = Some(Task::Warning("STP = STPMAX"));
        }
        if stp == self.stpmin && (f > ftest || g >= self.gtest) {
            task = Some(Task::Warning("STP = STPMIN"));
        }
        if f <= ftest && g.abs() <= self.gtol * (-self.ginit) {
            task = Some(Task::Convergence);
        }
        if let Some(t) = task {
            return (stp, t);
        }
        if self.stage == 1 && f <= self.fx && f > ftest {
            // The modified function psi(stp) = f(stp) - f(0) - ftol·stp·f'(0)
            // until a step with psi <= 0 and f' >= 0 is found.
            let fm = f - stp * self.gtest;
            let mut fxm = self.fx - self.stx * self.gtest;
            let mut fym = self.fy - self.sty * self.gtest;
            let gm = g - self.gtest;
            let mut gxm = self.gx - self.gtest;
            let mut gym = self.gy - self.gtest;
            dcstep(
                &mut self.stx,
                &mut fxm,
                &mut gxm,
                &mut self.sty,
                &mut fym,
                &mut gym,
                &mut stp,
                fm,
                gm,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
            self.fx = fxm + self.stx * self.gtest;
            self.fy = fym + self.sty * self.gtest;
            self.gx = gxm + self.gtest;
            self.gy = gym + self.gtest;
        } else {
            dcstep(
                &mut self.stx,
                &mut self.fx,
                &mut self.gx,
                &mut self.sty,
                &mut self.fy,
                &mut self.gy,
                &mut stp,
                f,
                g,
                &mut self.brackt,
                self.stmin,
                self.stmax,
            );
        }
        if self.brackt {
            // Force a sufficient decrease of the interval.
            if (self.sty - self.stx).abs() >= P66 * self.width1 {
                stp = self.stx + P5 * (self.sty - self.stx);
            }
            self.width1 = self.width;
            self.width = (self.sty - self.stx).abs();
            self.stmin = self.stx.min(self.sty);
            self.stmax = self.stx.max(self.sty);
        } else {
            self.stmin = stp + XTRAPL * (stp - self.stx);
            self.stmax = stp + XTRAPU * (stp - self.stx);
        }
        stp = stp.max(self.stpmin).min(self.stpmax);
        let stuck = stp <= self.stmin
            || stp >= self.stmax
            || self.stmax - self.stmin <= self.xtol * self.stmax;
        if self.brackt && stuck {
            // No further progress is possible: the best step so far.
            stp = self.stx;
        }
        (stp, Task::Fg)
    }
}

fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// A safeguarded step, updating the interval `[stx, sty]` that brackets a
/// step satisfying the conditions (MINPACK-2 `dcstep`).
#[allow(clippy::too_many_arguments)]
fn dcstep(
    stx: &mut f64,
    fx: &mut f64,
    dx: &mut f64,
    sty: &mut f64,
    fy: &mut f64,
    dy: &mut f64,
    stp: &mut f64,
    fp: f64,
    dp: f64,
    brackt: &mut bool,
    stpmin: f64,
    stpmax: f64,
) {
    let sgnd = sign(dp) * sign(*dx);
    let stpf;
    if fp > *fx {
        // Higher function value: the minimum is bracketed.
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp < *stx {
            gamma = -gamma;
        }
        let p = (gamma - *dx) + theta;
        let q = ((gamma - *dx) + gamma) + dp;
        let r = p / q;
        let stpc = *stx + r * (*stp - *stx);
        let stpq = *stx + ((*dx / ((*fx - fp) / (*stp - *stx) + *dx)) / 2.0) * (*stp - *stx);
        stpf = if (stpc - *stx).abs() <= (stpq - *stx).abs() {
            stpc
        } else {
            stpc + (stpq - stpc) / 2.0
        };
        *brackt = true;
    } else if sgnd < 0.0 {
        // Derivatives of opposite sign: the minimum is bracketed.
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dx;
        let r = p / q;
        let stpc = *stp + r * (*stx - *stp);
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        stpf = if (stpc - *stp).abs() > (stpq - *stp).abs() {
            stpc
        } else {
            stpq
        };
        *brackt = true;
    } else if dp.abs() < dx.abs() {
        // Same sign, derivative magnitude decreasing.
        let theta = 3.0 * (*fx - fp) / (*stp - *stx) + *dx + dp;
        let s = theta.abs().max(dx.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dx / s) * (dp / s)).max(0.0).sqrt();
        if *stp > *stx {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = (gamma + (*dx - dp)) + gamma;
        let r = p / q;
        let stpc = if r < 0.0 && gamma != 0.0 {
            *stp + r * (*stx - *stp)
        } else if *stp > *stx {
            stpmax
        } else {
            stpmin
        };
        let stpq = *stp + (dp / (dp - *dx)) * (*stx - *stp);
        if *brackt {
            let mut f = if (stpc - *stp).abs() < (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            if *stp > *stx {
                f = f.min(*stp + P66 * (*sty - *stp));
            } else {
                f = f.max(*stp + P66 * (*sty - *stp));
            }
            stpf = f;
        } else {
            let f = if (stpc - *stp).abs() > (stpq - *stp).abs() {
                stpc
            } else {
                stpq
            };
            stpf = f.max(stpmin).min(stpmax);
        }
    } else if *brackt {
        // Same sign, derivative magnitude not decreasing, bracketed.
        let theta = 3.0 * (fp - *fy) / (*sty - *stp) + *dy + dp;
        let s = theta.abs().max(dy.abs()).max(dp.abs());
        let mut gamma = s * ((theta / s).powi(2) - (*dy / s) * (dp / s)).sqrt();
        if *stp > *sty {
            gamma = -gamma;
        }
        let p = (gamma - dp) + theta;
        let q = ((gamma - dp) + gamma) + *dy;
        let r = p / q;
        stpf = *stp + r * (*sty - *stp);
    } else if *stp > *stx {
        stpf = stpmax;
    } else {
        stpf = stpmin;
    }
    if fp > *fx {
        *sty = *stp;
        *fy = fp;
        *dy = dp;
    } else {
        if sgnd < 0.0 {
            *sty = *stx;
            *fy = *fx;
            *dy = *dx;
        }
        *stx = *stp;
        *fx = fp;
        *dx = dp;
    }
    *stp = stpf;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a search on `phi` from `stp`, returning the final step and task.
    fn search(phi: impl Fn(f64) -> (f64, f64), stp: f64, ftol: f64, gtol: f64) -> (f64, Task) {
        let mut ls = Dcsrch::new(ftol, gtol, 0.1, 0.0, 1e10);
        let (f0, g0) = phi(0.0);
        let (mut stp, mut task) = ls.start(stp, f0, g0);
        for _ in 0..100 {
            if task != Task::Fg {
                break;
            }
            let (f, g) = phi(stp);
            (stp, task) = ls.iterate(stp, f, g);
        }
        (stp, task)
    }

    #[test]
    fn finds_strong_wolfe_step_on_a_quadratic() {
        // phi(a) = (a - 3)^2: minimum at 3, phi'(0) = -6.
        let phi = |a: f64| ((a - 3.0).powi(2), 2.0 * (a - 3.0));
        for start in [0.01, 1.0, 100.0] {
            let (stp, task) = search(phi, start, 1e-3, 0.9);
            assert_eq!(task, Task::Convergence, "start {start}");
            let (f, g) = phi(stp);
            assert!(f <= 9.0 + 1e-3 * stp * -6.0);
            assert!(g.abs() <= 0.9 * 6.0);
        }
        // A tight curvature tolerance lands next to the minimiser.
        let (stp, _) = search(phi, 0.5, 1e-4, 1e-6);
        assert!((stp - 3.0).abs() < 1e-5);
    }

    #[test]
    fn refuses_an_ascent_direction() {
        let mut ls = Dcsrch::new(1e-3, 0.9, 0.1, 0.0, 1e10);
        assert_eq!(ls.start(1.0, 0.0, 1.0).1, Task::Error("INITIAL G >= 0"));
    }
}
