//! Graph emulator (temporary header; rewritten below).
pub mod clock;
pub mod directory;
pub mod generator;
