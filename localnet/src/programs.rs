//! The programs on the chain, and the features the chain runs with.
//!
//! By default each program is its committed SBF bytecode (`sbf/deploy`),
//! deployed through BPF loader 2 as solana-program-test deploys SBF
//! programs: there is no ProgramData account, so, as with builtins, the
//! first `initialize` names the admin (on a cluster the upgradeable loader
//! keeps ProgramData and only the upgrade authority may initialize).

use agave_feature_set::FeatureSet;
use litesvm::LiteSVM;
use surfpool_types::SvmFeatureConfig;

use crate::LocalnetError;

/// How the programs run on the chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProgramRuntime {
    /// The committed SBF bytecode in the SBF VM: compute units metered,
    /// `Program … consumed N of M compute units` logged, as on a validator.
    #[default]
    Bytecode,
    /// The programs compiled for this machine, as native builtins: no
    /// metering, and the heap is the process's (tests meter it apart).
    Native,
}

/// Mainnet-beta's features as LiteSVM 0.16 lists them (sourced from the
/// cluster on 2026-08-24), which surfpool also starts from: SBPF v3, which
/// the committed bytecode is, among them (active since slot 428,976,000).
/// The program tests run with the same set, so they refuse what mainnet
/// refuses.
pub fn features() -> FeatureSet {
    LiteSVM::mainnet_feature_set()
}

/// No overrides: the chain runs mainnet-beta's features, as [`features`].
pub(crate) fn feature_config() -> SvmFeatureConfig {
    SvmFeatureConfig::new()
}

pub(crate) fn deploy(svm: &mut LiteSVM, runtime: ProgramRuntime) -> Result<(), LocalnetError> {
    match runtime {
        ProgramRuntime::Native => {
            crate::native_runtime::install();
            crate::builtins::register(svm);
        }
        ProgramRuntime::Bytecode => {
            for (id, program) in [
                (sparks::ID, sparks_sbf::SPARKS),
                (example_mint::ID, sparks_sbf::EXAMPLE_MINT),
            ] {
                svm.add_program_with_loader(id, program.elf, solana_sdk_ids::bpf_loader::id())
                    .map_err(|e| LocalnetError::Deploy {
                        program: program.package,
                        message: e.to_string(),
                    })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use agave_feature_set::enable_sbpf_v3_deployment_and_execution;

    use super::*;

    #[test]
    fn mainnet_runs_sbpf_v3_the_bytecode_is() {
        assert!(features().is_active(&enable_sbpf_v3_deployment_and_execution::id()));
    }
}
