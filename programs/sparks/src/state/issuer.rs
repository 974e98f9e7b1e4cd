use anchor_lang::prelude::*;

use crate::constants::{AWARD_ID_WINDOW, CAP_SLICES, ISSUER_SEED};
use crate::error::SparksError;
use crate::state::{checked_add, Source};

/// Words of [`Issuer::award_ids_used`].
pub const AWARD_ID_WORDS: usize = AWARD_ID_WINDOW / 64;
/// Entries of [`Issuer::minted_per_slice`]: a period-long window touches at
/// most `CAP_SLICES + 1` slices.
pub const CAP_RING: usize = CAP_SLICES + 1;

/// A key the app's back end awards with. Its cap bounds what a stolen key
/// can mint; its award ids make every award land at most once.
#[account]
#[derive(InitSpace, Debug, PartialEq, Eq)]
pub struct Issuer {
    pub authority: Pubkey,
    /// Bit set of [`Source::bit`].
    pub allowed_sources: u8,
    /// Most Sparks (awards plus referral credits) minted in any window of
    /// `period_secs`.
    pub cap_per_period: u64,
    pub period_secs: u32,
    /// Sparks minted per slice of `slice_secs(period_secs)` seconds, a ring
    /// indexed by slice number (unix time / slice length) modulo its length.
    pub minted_per_slice: [u64; CAP_RING],
    /// The newest slice the ring holds.
    pub current_slice: i64,
    /// All Sparks this issuer ever minted, referral credits included.
    pub total_minted: u64,
    pub active: bool,
    /// Every award id below the floor is used (paid, or voided by the issuer).
    pub award_id_floor: u64,
    /// Ids `floor .. floor + AWARD_ID_WINDOW`: bit `id % AWARD_ID_WINDOW` is
    /// set once the id is used.
    pub award_ids_used: [u64; AWARD_ID_WORDS],
    /// Bumped on settings changes (upsert, deactivate), not on awards.
    pub seq: u64,
    pub bump: u8,
}

/// Where an award id stands for its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwardIdState {
    /// Paid (or voided): it can never pay again.
    Used,
    /// Not used and inside the window: an award with it can land.
    Open,
    /// Not used, beyond the window: refused until the ids below it are used.
    Ahead,
}

/// Length of one cap slice: the period cut into [`CAP_SLICES`], rounded up,
/// so that `CAP_SLICES` slices cover at least a period.
pub fn slice_secs(period_secs: u32) -> i64 {
    i64::from(slice_length(period_secs))
}

fn slice_length(period_secs: u32) -> u32 {
    period_secs.div_ceil(CAP_SLICES as u32).max(1)
}

/// The slice `now` falls in. Solana's clock never reads before 1970, so the
/// division is unsigned: SBF has no cheap signed division (upstream LLVM's
/// SBPF v0 cannot even link one).
fn slice_at(now: i64, period_secs: u32) -> i64 {
    let seconds = u64::try_from(now).unwrap_or(0);
    let length = u64::from(slice_length(period_secs));
    i64::try_from(seconds / length).unwrap_or(i64::MAX)
}

impl Issuer {
    pub const SEED: &'static [u8] = ISSUER_SEED;

    pub fn new(authority: Pubkey, bump: u8) -> Self {
        Self {
            authority,
            allowed_sources: 0,
            cap_per_period: 0,
            period_secs: 0,
            minted_per_slice: [0; CAP_RING],
            current_slice: 0,
            total_minted: 0,
            active: false,
            award_id_floor: 0,
            award_ids_used: [0; AWARD_ID_WORDS],
            seq: 0,
            bump,
        }
    }

    pub fn allows(&self, source: Source) -> bool {
        self.allowed_sources & source.bit() != 0
    }

    // ---- The cap: at most `cap_per_period` in any `period_secs` window. ----
    //
    // A window of `period_secs` ending in slice k starts in slice
    // k - CAP_SLICES or later, so it lies within the ring's CAP_SLICES + 1
    // slices; requiring their sum to stay within the cap at every mint
    // bounds every such window (the last mint in it saw all of them).

    /// Slices are never negative (see [`slice_at`]).
    fn ring_index(slice: i64) -> usize {
        (u64::try_from(slice).unwrap_or(0) % CAP_RING as u64) as usize
    }

    /// Moves the ring forward to `now`'s slice, forgetting slices that left
    /// it. A clock that steps back charges the newest slice.
    fn roll_to(&mut self, now: i64) {
        let slice = slice_at(now, self.period_secs);
        if slice <= self.current_slice {
            return;
        }
        let steps = (slice - self.current_slice).min(CAP_RING as i64);
        for step in 1..=steps {
            self.minted_per_slice[Self::ring_index(self.current_slice + step)] = 0;
        }
        self.current_slice = slice;
    }

    /// Sparks minted within the window that ends now.
    pub fn minted_in_window(&self, now: i64) -> u64 {
        let slice = slice_at(now, self.period_secs).max(self.current_slice);
        (0..CAP_RING as i64)
            .map(|age| self.current_slice - age)
            .filter(|s| *s >= 0 && *s > slice - CAP_RING as i64)
            .fold(0u64, |sum, s| {
                sum.saturating_add(self.minted_per_slice[Self::ring_index(s)])
            })
    }

    /// Charges `minted` Sparks against the cap at time `now`.
    pub fn charge(&mut self, minted: u64, now: i64) -> Result<()> {
        self.roll_to(now);
        let mut used = minted;
        for slice in self.minted_per_slice {
            used = checked_add(used, slice)?;
        }
        require!(used <= self.cap_per_period, SparksError::IssuerCapExceeded);
        let slot = &mut self.minted_per_slice[Self::ring_index(self.current_slice)];
        *slot = checked_add(*slot, minted)?;
        self.total_minted = checked_add(self.total_minted, minted)?;
        Ok(())
    }

    /// A new period length: what the window holds now stays charged, to the
    /// current slice of the new length, so changing the period cannot
    /// reset the cap.
    pub fn set_period(&mut self, period_secs: u32, now: i64) {
        if period_secs == self.period_secs {
            return;
        }
        let used = self.minted_in_window(now);
        self.period_secs = period_secs;
        self.minted_per_slice = [0; CAP_RING];
        self.current_slice = slice_at(now, period_secs);
        self.minted_per_slice[Self::ring_index(self.current_slice)] = used;
    }

    // ---- Award ids: each pays at most once. ----

    fn bit(id: u64) -> (usize, u64) {
        let position = (id % AWARD_ID_WINDOW as u64) as usize;
        (position / 64, 1u64 << (position % 64))
    }

    pub fn award_id_state(&self, id: u64) -> AwardIdState {
        if id < self.award_id_floor {
            return AwardIdState::Used;
        }
        if id - self.award_id_floor >= AWARD_ID_WINDOW as u64 {
            return AwardIdState::Ahead;
        }
        let (word, mask) = Self::bit(id);
        if self.award_ids_used[word] & mask != 0 {
            AwardIdState::Used
        } else {
            AwardIdState::Open
        }
    }

    /// The id after the highest one used in the window (the floor when none
    /// is): where a single sender that allocates ids in order goes on.
    pub fn next_award_id(&self) -> u64 {
        (0..AWARD_ID_WINDOW as u64)
            .rev()
            .map(|offset| self.award_id_floor + offset)
            .find(|id| self.award_id_state(*id) == AwardIdState::Used)
            .map_or(self.award_id_floor, |id| id + 1)
    }

    /// Uses ids `first .. first + count`, all or none: refused if any is
    /// used already or lies beyond the window.
    pub fn use_award_ids(&mut self, first: u64, count: u64) -> Result<()> {
        require!(count > 0, SparksError::ZeroValue);
        let end = first.checked_add(count).ok_or(SparksError::MathOverflow)?;
        for id in first..end {
            match self.award_id_state(id) {
                AwardIdState::Open => {}
                AwardIdState::Used => return err!(SparksError::AwardIdUsed),
                AwardIdState::Ahead => return err!(SparksError::AwardIdBeyondWindow),
            }
        }
        for id in first..end {
            let (word, mask) = Self::bit(id);
            self.award_ids_used[word] |= mask;
        }
        self.advance_floor();
        Ok(())
    }

    /// Moves the floor over the used ids at its bottom, clearing their bits
    /// (they now stand for the ids one window higher).
    fn advance_floor(&mut self) {
        loop {
            let (word, _) = Self::bit(self.award_id_floor);
            let offset = (self.award_id_floor % 64) as u32;
            let run = (self.award_ids_used[word] >> offset).trailing_ones();
            if run == 0 {
                return;
            }
            let cleared = if run >= 64 - offset {
                u64::MAX << offset
            } else {
                ((1u64 << run) - 1) << offset
            };
            self.award_ids_used[word] &= !cleared;
            self.award_id_floor += u64::from(run.min(64 - offset));
            if run < 64 - offset {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn issuer() -> Issuer {
        let mut issuer = Issuer::new(Pubkey::new_unique(), 255);
        issuer.cap_per_period = 1_000;
        issuer.period_secs = 800;
        issuer
    }

    /// The ids used, by the model: a plain set. `ids`: the ids to compare
    /// (the whole window and around it, or just those a step touched).
    fn check(issuer: &Issuer, used: &BTreeSet<u64>, ids: Option<std::ops::Range<u64>>) {
        let floor = (0..).find(|id| !used.contains(id)).unwrap();
        assert_eq!(issuer.award_id_floor, floor);
        let ids = ids.unwrap_or(floor.saturating_sub(70)..floor + AWARD_ID_WINDOW as u64 + 70);
        for id in ids {
            let expected = if used.contains(&id) {
                AwardIdState::Used
            } else if id >= floor + AWARD_ID_WINDOW as u64 {
                AwardIdState::Ahead
            } else {
                AwardIdState::Open
            };
            assert_eq!(issuer.award_id_state(id), expected, "id {id}");
        }
    }

    #[test]
    fn award_ids_match_a_set_in_any_order() {
        // A deterministic shuffle of ranges of 1..40 ids, some repeated.
        let mut issuer = issuer();
        let mut used = BTreeSet::new();
        let mut seed = 7u64;
        for step in 0..6_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let floor = issuer.award_id_floor;
            // Half single ids at or just above the floor (an issuer filling
            // its oldest holes, so the floor moves on and the ring wraps),
            // half ranges anywhere in the window and just beyond it.
            let (first, count) = if seed & (1 << 7) == 0 {
                (floor + (seed >> 33) % 3, 1)
            } else {
                (
                    floor.saturating_sub(5) + (seed >> 33) % (AWARD_ID_WINDOW as u64 + 20),
                    1 + (seed >> 20) % 40,
                )
            };
            let ids: Vec<u64> = (first..first + count).collect();
            let expected_ok = ids
                .iter()
                .all(|id| !used.contains(id) && *id < floor + AWARD_ID_WINDOW as u64);
            let result = issuer.use_award_ids(first, count);
            assert_eq!(result.is_ok(), expected_ok, "ids {first}+{count}");
            if expected_ok {
                used.extend(ids);
            }
            let all = step % 50 == 0;
            check(
                &issuer,
                &used,
                (!all).then_some(first.saturating_sub(2)..first + count + 2),
            );
        }
        assert!(
            issuer.award_id_floor > AWARD_ID_WINDOW as u64,
            "the window moved on and wrapped: floor {}",
            issuer.award_id_floor
        );
    }

    #[test]
    fn a_whole_window_fills_and_frees_at_once() {
        let mut issuer = issuer();
        issuer.use_award_ids(1, AWARD_ID_WINDOW as u64 - 1).unwrap();
        assert_eq!(issuer.award_id_floor, 0);
        assert_eq!(
            issuer.award_id_state(AWARD_ID_WINDOW as u64),
            AwardIdState::Ahead
        );
        issuer.use_award_ids(0, 1).unwrap();
        assert_eq!(issuer.award_id_floor, AWARD_ID_WINDOW as u64);
        assert_eq!(issuer.award_ids_used, [0; AWARD_ID_WORDS]);
    }

    #[test]
    fn the_next_id_follows_the_highest_used() {
        let mut issuer = issuer();
        assert_eq!(issuer.next_award_id(), 0);
        issuer.use_award_ids(10, 3).unwrap();
        assert_eq!(issuer.next_award_id(), 13);
        issuer.use_award_ids(0, 10).unwrap();
        assert_eq!((issuer.award_id_floor, issuer.next_award_id()), (13, 13));
    }

    #[test]
    fn a_refused_range_changes_nothing() {
        let mut issuer = issuer();
        issuer.use_award_ids(5, 1).unwrap();
        let before = issuer.award_ids_used;
        assert!(issuer.use_award_ids(3, 4).is_err());
        assert_eq!(issuer.award_ids_used, before);
        assert!(issuer.use_award_ids(0, 0).is_err());
        assert!(issuer.use_award_ids(u64::MAX, 2).is_err());
    }

    /// Every window of `period_secs` holds at most the cap, whatever the
    /// timing (checked against the full list of mints).
    #[test]
    fn the_cap_holds_over_every_period_long_window() {
        let mut issuer = issuer();
        let mut mints: Vec<(i64, u64)> = Vec::new();
        let mut seed = 3u64;
        let mut now = 1_000_000i64;
        for _ in 0..5_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            now += ((seed >> 40) % 120) as i64;
            let amount = 1 + (seed >> 12) % 400;
            if issuer.charge(amount, now).is_ok() {
                mints.push((now, amount));
            }
            let window: u64 = mints
                .iter()
                .filter(|(t, _)| *t >= now - i64::from(issuer.period_secs))
                .map(|(_, a)| a)
                .sum();
            assert!(window <= issuer.cap_per_period, "{window} at {now}");
        }
        assert!(
            mints.len() > 500,
            "the cap let awards through: {}",
            mints.len()
        );
        assert_eq!(
            issuer.total_minted,
            mints.iter().map(|(_, a)| a).sum::<u64>()
        );
    }

    #[test]
    fn capacity_returns_one_slice_after_the_period() {
        let mut issuer = issuer(); // 800 s period, 100 s slices
        issuer.charge(1_000, 1_050).unwrap(); // slice 10
        assert!(issuer.charge(1, 1_849).is_err()); // 799 s later
        assert!(issuer.charge(1, 1_899).is_err()); // slice 18: slices 10..=18
        issuer.charge(1_000, 1_900).unwrap(); // slice 19: slice 10 left
    }

    #[test]
    fn changing_the_period_keeps_what_was_minted() {
        let mut issuer = issuer();
        issuer.charge(900, 10_000).unwrap();
        issuer.set_period(60, 10_001);
        assert!(issuer.charge(101, 10_002).is_err());
        issuer.charge(100, 10_002).unwrap();
        assert_eq!(issuer.minted_in_window(10_002), 1_000);
    }
}
