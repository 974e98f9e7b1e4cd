//! Checking a PDA whose bump the caller names, at a cost it cannot choose.
//!
//! `find_program_address` hashes once per bump tried, from 255 down, and
//! the syscall charges 1,500 compute units a try. Where a stranger picks
//! the seed (a wallet that receives an award), it can grind a wallet whose
//! PDA takes many tries, offline, and make every instruction naming it cost
//! more. Here the caller passes the bump: the address is checked with one
//! hash, and the bump is shown canonical (no higher bump makes a PDA, so the
//! account is the one every other instruction derives) by checking that
//! each higher bump's hash is a curve point. That is a hash and a point
//! check per higher bump — about a fifth of a try — so a ground wallet
//! still costs more, but by an amount the client computes from the wallet
//! and the figures measure (`idl/compute-units.json`, `bump_check`).

use anchor_lang::prelude::*;

use crate::error::SparksError;

/// What `create_program_address` appends to the seeds before hashing.
const PDA_MARKER: &[u8] = b"ProgramDerivedAddress";

/// Seeds a checked PDA may have, its bump aside.
const MAX_SEEDS: usize = 4;

/// The sha256 `create_program_address` takes for `seeds` and `bump` under
/// this program (a PDA when it is not a curve point).
fn pda_hash(seeds: &[&[u8]], bump: u8) -> Result<[u8; 32]> {
    require!(seeds.len() <= MAX_SEEDS, SparksError::InvalidPda);
    let bump = [bump];
    let mut parts: [&[u8]; MAX_SEEDS + 3] = [&[]; MAX_SEEDS + 3];
    parts[..seeds.len()].copy_from_slice(seeds);
    parts[seeds.len()] = &bump;
    parts[seeds.len() + 1] = crate::ID.as_ref();
    parts[seeds.len() + 2] = PDA_MARKER;
    Ok(solana_sha256_hasher::hashv(&parts[..seeds.len() + 3]).to_bytes())
}

/// Checks that `address` is the canonical PDA of `seeds` under this program
/// and that `bump` is its bump: `InvalidPda` if the seeds and bump make
/// another address (or no PDA), `BumpNotCanonical` if a higher bump makes
/// one. Costs one hash and point check per bump from `bump` to 255.
pub fn check_canonical_pda(address: &Pubkey, seeds: &[&[u8]], bump: u8) -> Result<()> {
    let hash = pda_hash(seeds, bump)?;
    require!(
        hash == address.to_bytes() && !solana_address::bytes_are_curve_point(hash),
        SparksError::InvalidPda
    );
    for higher in u16::from(bump) + 1..=u16::from(u8::MAX) {
        let higher = higher as u8; // at most 255
        require!(
            solana_address::bytes_are_curve_point(pda_hash(seeds, higher)?),
            SparksError::BumpNotCanonical
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seeds(wallet: &Pubkey) -> [&[u8]; 2] {
        [crate::state::SparkAccount::SEED, wallet.as_ref()]
    }

    #[test]
    fn the_canonical_bump_passes_and_matches_find_program_address() {
        for n in 0..64u8 {
            let wallet = Pubkey::new_from_array([n; 32]);
            let (address, bump) = Pubkey::find_program_address(&seeds(&wallet), &crate::ID);
            check_canonical_pda(&address, &seeds(&wallet), bump).unwrap();
        }
    }

    #[test]
    fn a_lower_bump_that_makes_a_pda_is_refused_as_not_canonical() {
        let mut refused = 0;
        for n in 0..64u8 {
            let wallet = Pubkey::new_from_array([n; 32]);
            let (_, canonical) = Pubkey::find_program_address(&seeds(&wallet), &crate::ID);
            // The next lower bump that still makes a PDA.
            let [seed, owner] = seeds(&wallet);
            let lower = (0..canonical).rev().find_map(|bump| {
                Pubkey::create_program_address(&[seed, owner, &[bump]], &crate::ID)
                    .ok()
                    .map(|address| (address, bump))
            });
            if let Some((address, bump)) = lower {
                assert_eq!(
                    check_canonical_pda(&address, &seeds(&wallet), bump),
                    Err(SparksError::BumpNotCanonical.into())
                );
                refused += 1;
            }
        }
        assert!(refused > 0);
    }

    #[test]
    fn a_wrong_address_or_bump_is_refused() {
        let wallet = Pubkey::new_from_array([7; 32]);
        let (address, bump) = Pubkey::find_program_address(&seeds(&wallet), &crate::ID);
        let other = Pubkey::new_from_array([8; 32]);
        assert_eq!(
            check_canonical_pda(&other, &seeds(&wallet), bump),
            Err(SparksError::InvalidPda.into())
        );
        assert_eq!(
            check_canonical_pda(&address, &seeds(&wallet), bump.wrapping_add(1)),
            Err(SparksError::InvalidPda.into())
        );
    }
}
