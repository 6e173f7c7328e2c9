fn main() {
    println!("oxlearn {}", env!("CARGO_PKG_VERSION"));
}
