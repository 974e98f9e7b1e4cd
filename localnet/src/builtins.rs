//! The Sparks programs as native builtins of LiteSVM.
//!
//! LiteSVM wants a plain `fn(*mut EbpfVm<InvokeContext>, u64 × 5)`; the body
//! is what solana-program-test's `processor!` macro expands to (the macro's
//! closure does not coerce to LiteSVM's higher-ranked fn type). CPIs from
//! native code go through the syscall stubs solana-program-test installs on
//! its first bank setup.

use std::sync::Once;

use litesvm::LiteSVM;
use solana_program_test::{
    get_runtime_environment_key, invoke_builtin_function, EbpfError, EbpfVm, InvokeContext,
    ProgramTest,
};
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
            vm.program_result = invoke_builtin_function($entry, vm.context_object_pointer)
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

/// Installs solana-program-test's native syscall stubs (CPI, sysvars, logs)
/// once per process, by letting it set up one throwaway bank.
pub fn install_syscall_stubs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("RUST_LOG").is_none() {
            std::env::set_var("RUST_LOG", "error");
        }
        std::thread::spawn(|| {
            let runtime = solana_program_test::tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime for the stub installer");
            runtime.block_on(async {
                let _ = ProgramTest::default().start().await;
            });
        })
        .join()
        .expect("installing syscall stubs");
    });
}
