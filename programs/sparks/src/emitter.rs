//! `emit_cpi!` without its allocations, for the award paths.
//!
//! `emit_cpi!` serializes each event into a fresh `Vec` (capacity 256, so a
//! ~300-byte `SparksAwarded` reallocates), copies it into a second `Vec`
//! behind the event tag, copies that into the instruction and allocates its
//! account metas: about 1.1 KiB of heap per event, which SBF's bump
//! allocator never gets back, and a batch emits up to two events per row.
//! [`EventEmitter`] keeps one instruction whose data buffer every event is
//! serialized into, so all the events of a batch cost one allocation. The
//! bytes are the same as `emit_cpi!`'s: the event tag, the event's
//! discriminator, its borsh encoding, in a self-CPI signed by the event
//! authority PDA.

use anchor_lang::prelude::*;
use anchor_lang::solana_program::instruction::Instruction;
use anchor_lang::solana_program::program::invoke_signed;
use anchor_lang::Event;

/// Room for the largest event the award paths emit (`SparksAwarded`,
/// ~290 bytes); a larger one grows the buffer once.
const EVENT_CAPACITY: usize = 384;

/// The seed of the event authority PDA (Anchor's `#[event_cpi]`).
const EVENT_AUTHORITY_SEED: &[u8] = b"__event_authority";

pub struct EventEmitter<'a, 'info> {
    authority: &'a AccountInfo<'info>,
    instruction: Instruction,
}

impl<'a, 'info> EventEmitter<'a, 'info> {
    /// `authority` is the instruction's `event_authority` account (Anchor
    /// has checked its address).
    pub fn new(authority: &'a AccountInfo<'info>) -> Self {
        Self {
            authority,
            instruction: Instruction {
                program_id: crate::ID,
                accounts: vec![AccountMeta::new_readonly(*authority.key, true)],
                data: Vec::with_capacity(EVENT_CAPACITY),
            },
        }
    }

    pub fn emit<E: Event>(&mut self, event: &E) -> Result<()> {
        let data = &mut self.instruction.data;
        data.clear();
        data.extend_from_slice(anchor_lang::event::EVENT_IX_TAG_LE);
        data.extend_from_slice(E::DISCRIMINATOR);
        event.serialize(data)?;
        invoke_signed(
            &self.instruction,
            std::slice::from_ref(self.authority),
            &[&[EVENT_AUTHORITY_SEED, &[crate::EVENT_AUTHORITY_AND_BUMP.1]]],
        )?;
        Ok(())
    }
}
