//! The suite with the programs compiled for this machine, as builtins; and
//! the heap as the native model meters it (every allocation replayed on a
//! model of SBF's bump allocator; `sbf.rs` reads the VM's own).

suite!(sparks_tests::Native);

mod test_heap;
