/**
 * Compute-unit limits, as the Rust client makes them (client/src/budget.rs):
 * from the units the SBF VM measured for the committed bytecode
 * (idl/compute-units.json, generated into `./generated/computeUnits`), the
 * tries beyond one that the PDAs the program searches take (`bump_try`
 * each), or checks above a bump the client passed (`bump_check` each: an
 * award's recipient, a whitelist grant's entry), and the margin. A transaction that runs out of units fails; one that asks
 * for far more than it uses pays more for its priority fee.
 */
import { getProgramDerivedAddress, getAddressEncoder, type Address, type Instruction } from '@solana/kit';
import { COMPUTE_UNITS } from './generated/computeUnits';
import {
  getAwardBatchInstructionDataDecoder,
  getCreatePerkInstructionDataDecoder,
  getCreateWhitelistInstructionDataDecoder,
  getVoidAwardIdsInstructionDataDecoder,
  identifySparksInstruction,
  SPARKS_PROGRAM_ADDRESS,
  SparksInstruction,
} from './generated';

export { COMPUTE_UNITS };

/** A transaction may not ask for more. */
export const MAX_COMPUTE_UNITS = 1_400_000;
/**
 * What the runtime gives an instruction when the transaction names no limit:
 * asked for another program's instruction, which the figures do not cover.
 */
export const UNMEASURED_COMPUTE_UNITS = 200_000;
/** What each compute-budget instruction itself uses. */
export const BUDGET_INSTRUCTION_UNITS = 150;

const utf8 = (text: string) => new TextEncoder().encode(text);

/** Bump tries `findProgramAddress` takes for `seeds` under the program: 256 - bump. */
async function extraTries(programAddress: Address, seeds: Uint8Array[]): Promise<number> {
  const [, bump] = await getProgramDerivedAddress({ programAddress, seeds });
  return 256 - bump - 1;
}

const key = (address: Address) => new Uint8Array(getAddressEncoder().encode(address));

/** An id's seed: u64, little-endian. */
const id = (value: bigint) => {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, value, true);
  return bytes;
};

/** The figure the IDL names an instruction by, for those with one figure. */
const FIGURE_NAMES: Partial<Record<SparksInstruction, keyof typeof COMPUTE_UNITS.instructions>> = {
  [SparksInstruction.AcceptAdmin]: 'accept_admin',
  [SparksInstruction.AcceptWhitelistAdmin]: 'accept_whitelist_admin',
  [SparksInstruction.CreatePerk]: 'create_perk',
  [SparksInstruction.CreateWhitelist]: 'create_whitelist',
  [SparksInstruction.DeactivateIssuer]: 'deactivate_issuer',
  [SparksInstruction.GrantWhitelist]: 'grant_whitelist',
  [SparksInstruction.Initialize]: 'initialize',
  [SparksInstruction.JoinWhitelist]: 'join_whitelist',
  [SparksInstruction.Pause]: 'pause',
  [SparksInstruction.ProposeAdmin]: 'propose_admin',
  [SparksInstruction.ProposeWhitelistAdmin]: 'propose_whitelist_admin',
  [SparksInstruction.RedeemPerk]: 'redeem_perk',
  [SparksInstruction.Revoke]: 'revoke',
  [SparksInstruction.SetReferrer]: 'set_referrer',
  [SparksInstruction.Unpause]: 'unpause',
  [SparksInstruction.UpdateConfig]: 'update_config',
  [SparksInstruction.UpdatePerk]: 'update_perk',
  [SparksInstruction.UpdateWhitelist]: 'update_whitelist',
  [SparksInstruction.UpsertIssuer]: 'upsert_issuer',
};

/**
 * Units a Sparks instruction may use: its measured figure (an award's
 * recipient assumed new at a prefunded address, and so every batch row that
 * may create its account), plus the bump tries beyond one of the PDAs the
 * program searches for it (the user's claim, entry and SparkAccount, an
 * award's recipient, a new issuer, perk or whitelist), plus the margin.
 */
export async function computeUnitLimit(
  instruction: Instruction,
  programAddress: Address = SPARKS_PROGRAM_ADDRESS,
): Promise<number> {
  if (instruction.programAddress !== programAddress) return UNMEASURED_COMPUTE_UNITS;
  if (!instruction.data) return MAX_COMPUTE_UNITS;
  const accounts = (instruction.accounts ?? []).map((a) => a.address);
  const spark = (owner: Address | undefined) =>
    owner ? extraTries(programAddress, [utf8('spark'), key(owner)]) : Promise.resolve(0);
  const entry = (whitelist: Address | undefined, wallet: Address | undefined) =>
    whitelist && wallet && whitelist !== programAddress
      ? extraTries(programAddress, [utf8('wl_entry'), key(whitelist), key(wallet)])
      : Promise.resolve(0);
  const units = COMPUTE_UNITS;
  let figure: number;
  let tries = 0; // searched
  let checked = 0; // checked above a passed bump
  let kind: SparksInstruction;
  try {
    kind = identifySparksInstruction(instruction.data);
  } catch {
    // Not an instruction this client knows (a newer program's): ask for all.
    return MAX_COMPUTE_UNITS;
  }
  switch (kind) {
    case SparksInstruction.Award: {
      const referrerPassed = accounts[5] !== undefined && accounts[5] !== programAddress;
      figure =
        units.award.new_account_prefunded +
        (referrerPassed ? units.award.paying_referrer - units.award.existing_account : 0);
      checked = await spark(accounts[3]);
      break;
    }
    case SparksInstruction.AwardBatch: {
      const { recipients } = getAwardBatchInstructionDataDecoder().decode(instruction.data);
      figure = units.award_batch.base;
      let next = 6; // remaining accounts: wallet, SparkAccount, [referrer's]
      for (const row of recipients) {
        if (row.withReferrer) {
          figure += units.award_batch.referrer_row;
          next += 3;
        } else {
          figure += units.award_batch.new_account_prefunded_row;
          checked += await spark(accounts[next]);
          next += 2;
        }
      }
      break;
    }
    case SparksInstruction.VoidAwardIds: {
      const { count } = getVoidAwardIdsInstructionDataDecoder().decode(instruction.data);
      figure = units.void_award_ids.base + units.void_award_ids.per_id * count;
      break;
    }
    default: {
      const name = FIGURE_NAMES[kind];
      if (!name) return MAX_COMPUTE_UNITS;
      figure = units.instructions[name];
      if (kind === SparksInstruction.RedeemPerk) {
        const [owner, perk] = [accounts[0], accounts[3]];
        if (owner && perk) tries += await extraTries(programAddress, [utf8('claim'), key(perk), key(owner)]);
        tries += await entry(accounts[6], owner);
      } else if (kind === SparksInstruction.JoinWhitelist) {
        tries = await entry(accounts[3], accounts[0]);
      } else if (kind === SparksInstruction.GrantWhitelist) {
        checked = await entry(accounts[1], accounts[2]);
      } else if (kind === SparksInstruction.SetReferrer) {
        tries = (await spark(accounts[0])) + (await spark(accounts[4]));
      } else if (kind === SparksInstruction.UpsertIssuer && accounts[2]) {
        tries = await extraTries(programAddress, [utf8('issuer'), key(accounts[2])]);
      } else if (kind === SparksInstruction.CreatePerk) {
        const perk = getCreatePerkInstructionDataDecoder().decode(instruction.data);
        tries = await extraTries(programAddress, [utf8('perk'), id(perk.id)]);
      } else if (kind === SparksInstruction.CreateWhitelist) {
        const whitelist = getCreateWhitelistInstructionDataDecoder().decode(instruction.data);
        tries = await extraTries(programAddress, [utf8('whitelist'), id(whitelist.id)]);
      }
    }
  }
  const extra = units.bump_try * tries + units.bump_check * checked;
  const limit = Math.ceil(((figure + extra) * (100 + units.margin_percent)) / 100);
  return Math.min(limit, MAX_COMPUTE_UNITS);
}

/**
 * The limit a whole transaction asks for: each instruction's units (Sparks
 * instructions of the program at `programAddress` measured, others the
 * runtime's default), plus the compute-budget instructions themselves,
 * capped at what a transaction may ask for.
 */
export async function transactionComputeUnitLimit(
  instructions: Instruction[],
  {
    programAddress = SPARKS_PROGRAM_ADDRESS,
    budgetInstructions = 1,
  }: { programAddress?: Address; budgetInstructions?: number } = {},
): Promise<number> {
  const limits = await Promise.all(instructions.map((i) => computeUnitLimit(i, programAddress)));
  const total = limits.reduce((sum, units) => sum + units, BUDGET_INSTRUCTION_UNITS * budgetInstructions);
  return Math.min(total, MAX_COMPUTE_UNITS);
}
