//! The Sparks programs as native builtins of LiteSVM (`--native`).
//!
//! Each program is a builtin function definition whose VM wrapper calls
//! [`crate::native_runtime::invoke_native`], which runs the program and logs
//! as a deployed program would (as solana-program-test's `processor!`).

use litesvm::LiteSVM;
use solana_program_entrypoint::ProcessInstruction;
use solana_program_runtime::invoke_context::InvokeContext;
use solana_sbpf::error::EbpfError;
use solana_sbpf::program::BuiltinFunctionDefinition;
use solana_sbpf::vm::EncryptedHostAddressToEbpfVm;
use sparks_client::native::{example_mint_entry, sparks_entry};

macro_rules! builtin {
    ($name:ident, $entry:path) => {
        struct $name;

        impl BuiltinFunctionDefinition<InvokeContext<'_, '_>> for $name {
            type Error = Box<dyn std::error::Error>;

            fn rust(
                context: &mut InvokeContext<'_, '_>,
                _: u64,
                _: u64,
                _: u64,
                _: u64,
                _: u64,
            ) -> Result<u64, Self::Error> {
                run($entry, context)
            }

            fn vm(
                mut vm: EncryptedHostAddressToEbpfVm<InvokeContext<'_, '_>>,
                _: u64,
                _: u64,
                _: u64,
                _: u64,
                _: u64,
            ) {
                // SAFETY: the runtime hands a builtin the VM it runs in,
                // as solana-program-test's `processor!` relies on.
                unsafe {
                    vm.with_vm(|vm| {
                        vm.program_result = run($entry, vm.context())
                            .map_err(EbpfError::SyscallError)
                            .into();
                    });
                }
            }
        }
    };
}

fn run(
    entry: ProcessInstruction,
    context: &mut InvokeContext<'_, '_>,
) -> Result<u64, Box<dyn std::error::Error>> {
    crate::native_runtime::invoke_native(entry, context)
}

builtin!(SparksBuiltin, sparks_entry);
builtin!(ExampleMintBuiltin, example_mint_entry);

/// Adds both programs to the SVM as native builtins.
pub fn register(svm: &mut LiteSVM) {
    svm.add_builtin(sparks::ID, SparksBuiltin::register);
    svm.add_builtin(example_mint::ID, ExampleMintBuiltin::register);
}
