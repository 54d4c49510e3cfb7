fn main() {println!("emu");}
