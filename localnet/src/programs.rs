//! The programs on the chain, and the features the chain runs with.
//!
//! By default each program is its committed SBF bytecode (`sbf/deploy`),
//! deployed through BPF loader 2 as solana-program-test deploys SBF
//! programs: there is no ProgramData account, so, as with builtins, the
//! first `initialize` names the admin (on a cluster the upgradeable loader
//! keeps ProgramData and only the upgrade authority may initialize).

use agave_feature_set::{enable_sbpf_v3_deployment_and_execution, FeatureSet};
use litesvm::LiteSVM;
use solana_pubkey::Pubkey;
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

/// The feature gates beyond mainnet-beta's that the chain turns on: SBPF v3
/// (upstream LLVM builds v3; mainnet does not run it yet).
pub fn extra_features() -> Vec<Pubkey> {
    vec![enable_sbpf_v3_deployment_and_execution::id()]
}

/// Mainnet-beta's features (as LiteSVM lists them) plus [`extra_features`]:
/// what the local chain and the program tests run with.
pub fn features() -> FeatureSet {
    let mut features = LiteSVM::mainnet_feature_set();
    for feature in extra_features() {
        features.activate(&feature, 0);
    }
    features
}

pub(crate) fn feature_config() -> SvmFeatureConfig {
    extra_features()
        .into_iter()
        .fold(SvmFeatureConfig::new(), SvmFeatureConfig::enable)
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
