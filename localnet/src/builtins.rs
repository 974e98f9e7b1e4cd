//! The Sparks programs as native builtins of LiteSVM.
//!
//! LiteSVM wants a plain `fn(*mut EbpfVm<InvokeContext>, u64 × 5)`; the body
//! is what solana-program-test's `processor!` macro expands to (the macro's
//! closure does not coerce to LiteSVM's higher-ranked fn type), calling
//! [`crate::native_runtime::invoke_native`], which runs the program and
//! logs as a deployed program would.

use litesvm::LiteSVM;
use solana_program_test::{get_runtime_environment_key, EbpfError, EbpfVm, InvokeContext};
use sparks_client::native::{example_mint_entry, sparks_entry};

macro_rules! builtin {
    ($name:ident, $entry:path) => {
        fn $name(
            vm: *mut EbpfVm<InvokeContext<'static, 'static>>,
            _: u64,
            _: u64,
            _: u64,
            _: u64,
            _: u64,
        ) {
            // SAFETY: the same pointer arithmetic as solana-program-test's
            // `processor!`: the runtime passes the VM's environment slot.
            let vm = unsafe {
                &mut *((vm as *mut u64).offset(-(get_runtime_environment_key() as isize))
                    as *mut EbpfVm<InvokeContext<'static, 'static>>)
            };
            vm.program_result =
                crate::native_runtime::invoke_native($entry, vm.context_object_pointer)
                    .map_err(EbpfError::SyscallError)
                    .into();
        }
    };
}

builtin!(sparks_builtin, sparks_entry);
builtin!(example_mint_builtin, example_mint_entry);

/// Adds both programs to the SVM.
pub fn register(svm: &mut LiteSVM) {
    svm.add_builtin(sparks::ID, sparks_builtin);
    svm.add_builtin(example_mint::ID, example_mint_builtin);
}
