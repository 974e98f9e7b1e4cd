/**
 * The compute-unit limits without a chain: what they ask for an instruction
 * they cannot measure, and the cap on a whole transaction. (The test on the
 * chain sends every instruction with these limits, so a figure below what
 * the bytecode uses fails there.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { address, type Address, type Instruction } from '@solana/kit';
import {
  BUDGET_INSTRUCTION_UNITS,
  COMPUTE_UNITS,
  MAX_COMPUTE_UNITS,
  SPARKS_PROGRAM_ADDRESS,
  UNMEASURED_COMPUTE_UNITS,
  computeUnitLimit,
  getPauseInstructionDataEncoder,
  transactionComputeUnitLimit,
} from '../src/index';

const OTHER_DEPLOYMENT = address('Sysvar1111111111111111111111111111111111111');

/** Pause: one figure, no PDA searched; the limit reads only its data. */
const pause = (programAddress: Address = SPARKS_PROGRAM_ADDRESS): Instruction => ({
  programAddress,
  data: getPauseInstructionDataEncoder().encode({}),
});

describe('compute-unit limits', () => {
  test('a measured instruction asks for its figure plus the margin', async () => {
    const expected = Math.ceil((COMPUTE_UNITS.instructions.pause * (100 + COMPUTE_UNITS.margin_percent)) / 100);
    assert.equal(await computeUnitLimit(pause()), expected);
  });

  test('the program at another address is measured when named', async () => {
    const instruction = pause(OTHER_DEPLOYMENT);
    assert.equal(await computeUnitLimit(instruction), UNMEASURED_COMPUTE_UNITS);
    assert.equal(await computeUnitLimit(instruction, OTHER_DEPLOYMENT), await computeUnitLimit(pause()));
  });

  test('an instruction this client does not know asks for all it may', async () => {
    const unknown = { programAddress: SPARKS_PROGRAM_ADDRESS, data: new Uint8Array(8).fill(0xee) };
    assert.equal(await computeUnitLimit(unknown), MAX_COMPUTE_UNITS);
  });

  test('a transaction adds its budget instructions and stays under the cap', async () => {
    const one = await computeUnitLimit(pause());
    assert.equal(await transactionComputeUnitLimit([pause()]), one + BUDGET_INSTRUCTION_UNITS);
    assert.equal(
      await transactionComputeUnitLimit([pause()], { budgetInstructions: 2 }),
      one + 2 * BUDGET_INSTRUCTION_UNITS,
    );
    const unknown = { programAddress: SPARKS_PROGRAM_ADDRESS, data: new Uint8Array(8).fill(0xee) };
    assert.equal(await transactionComputeUnitLimit([unknown, unknown]), MAX_COMPUTE_UNITS);
  });
});
