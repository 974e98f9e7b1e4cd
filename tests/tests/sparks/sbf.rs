//! The suite with the committed SBPF v3 bytecode, in the SBF VM; compute
//! units, which only the VM meters (a native builtin counts one unit); and
//! the heap as the VM uses it (read from register traces).

suite!(sparks_tests::Bytecode);

mod test_compute_units;
mod test_heap;
