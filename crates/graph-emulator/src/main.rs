fn main() {
    println!("emu");
}
