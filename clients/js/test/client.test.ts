/**
 * The generated client against a real chain (the local chain over JSON-RPC):
 * every account type fetched and decoded, the user's instructions and an
 * award built and sent, their events read back from the transactions, and
 * refusals mapped to the program's error names, with nothing changed.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  address,
  generateKeyPairSigner,
  isSome,
  unwrapOption,
  type Address,
  type Instruction,
  type KeyPairSigner,
} from '@solana/kit';
import {
  PerkKind,
  SPARKS_ERRORS,
  SPARKS_PROGRAM_ADDRESS,
  Source,
  fetchConfig,
  fetchIssuer,
  fetchPerk,
  fetchPerkClaim,
  fetchSparkAccount,
  fetchWhitelist,
  fetchWhitelistEntry,
  findClaimPda,
  findConfigPda,
  findEntryPda,
  findIssuerPda,
  findPerkPda,
  findSparkPda,
  findWhitelistPda,
  getAwardInstructionAsync,
  getCreatePerkInstructionAsync,
  getCreateWhitelistInstructionAsync,
  getInitializeInstructionAsync,
  getJoinWhitelistInstructionAsync,
  getRedeemPerkInstructionAsync,
  getSetReferrerInstructionAsync,
  getUpsertIssuerInstructionAsync,
  plainMessage,
  refusalOf,
  sparksErrorOf,
  sparksEventsOf,
  type SparksEvent,
  type SparksEventMap,
  type SparksEventName,
} from '../src/index';
import { funded, rpc, send, transaction } from './chain';

const FOREVER = 2n ** 63n - 1n;
const SYSTEM_PROGRAM = address('11111111111111111111111111111111');
const COMPUTE_BUDGET = address('ComputeBudget111111111111111111111111111111');
const WHITELIST = 7n;
const SOLD_OUT_PERK = 1n;
const DEAR_PERK = 2n;

async function eventsOf(signature: Parameters<typeof transaction>[0]): Promise<SparksEvent[]> {
  return sparksEventsOf(await transaction(signature));
}

function only<N extends SparksEventName>(events: SparksEvent[], name: N): SparksEventMap[N] {
  const found = events.filter((e) => e.name === name);
  assert.equal(found.length, 1, `one ${name} in ${events.map((e) => e.name).join(', ')}`);
  return found[0].data as SparksEventMap[N];
}

async function sparkOf(wallet: Address) {
  return (await fetchSparkAccount(rpc, (await findSparkPda({ owner: wallet }))[0], { commitment: 'confirmed' })).data;
}

describe('the Sparks client on a real chain', () => {
  let admin: KeyPairSigner, issuer: KeyPairSigner, alice: KeyPairSigner, bob: KeyPairSigner;
  let nextAwardId = 0n;
  const award = async (to: Address, amount: bigint, referrer?: Address) =>
    send(issuer, [
      await getAwardInstructionAsync({
        authority: issuer,
        recipient: to,
        referrerSpark: referrer ? (await findSparkPda({ owner: referrer }))[0] : undefined,
        source: Source.Trading,
        amount,
        reference: new Uint8Array(32).fill(9),
        awardId: nextAwardId++,
      }),
    ]);

  before(async () => {
    [admin, issuer, alice, bob] = await Promise.all([funded(), funded(), funded(), funded()]);
    await send(admin, [
      await getInitializeInstructionAsync({
        admin,
        params: { referralTradeShareBps: 1_000, firstSubscriptionBonus: 500, maxAwardPerIx: 1_000_000n },
      }),
      await getUpsertIssuerInstructionAsync({
        admin,
        authority: issuer.address,
        allowedSources: 0b1111,
        capPerPeriod: 1_000_000_000n,
        periodSecs: 86_400,
      }),
      await getCreateWhitelistInstructionAsync({
        admin,
        id: WHITELIST,
        whitelistAdmin: admin.address,
        terms: {
          consumer: admin.address,
          capacity: 10,
          spotsPerWallet: 1,
          minLifetimeSparks: 500n,
          startsAt: 0n,
          endsAt: FOREVER,
        },
      }),
    ]);
    const perk = async (id: bigint, kind: PerkKind, cost: bigint, maxSupply: bigint) =>
      getCreatePerkInstructionAsync({
        admin,
        perk: (await findPerkPda({ id }))[0],
        id,
        kind,
        cost,
        maxSupply,
        perWalletLimit: 0,
        startsAt: 0n,
        endsAt: FOREVER,
        uri: `https://sparks.example/perks/${id}`,
      });
    await send(admin, [
      await perk(SOLD_OUT_PERK, PerkKind.DiscordRole, 300n, 1n),
      await perk(DEAR_PERK, PerkKind.TrafficBoost, 1_000_000n, 0n),
    ]);
  });

  test('an award credits the recipient and the event carries the account after it', async () => {
    const events = await eventsOf(await award(bob.address, 50n));
    const awarded = only(events, 'sparksAwarded');
    assert.equal(awarded.issuer, issuer.address);
    assert.equal(awarded.source, Source.Trading);
    assert.equal(awarded.amount, 50n);
    assert.equal(awarded.account.owner, bob.address);
    assert.equal(awarded.account.balance, 50n);
    const { discriminator: _, ...onChain } = await sparkOf(bob.address);
    assert.deepEqual(awarded.account, onChain);
  });

  test('set_referrer: the invitee names its referrer; both accounts are in the event', async () => {
    const signature = await send(alice, [
      await getSetReferrerInstructionAsync({ invitee: alice, payer: alice, referrer: bob.address }),
    ]);
    const set = only(await eventsOf(signature), 'referrerSet');
    assert.equal(set.invitee.owner, alice.address);
    assert.equal(unwrapOption(set.invitee.referrer), bob.address);
    assert.equal(set.referrer.owner, bob.address);
    assert.equal(set.referrer.inviteeCount, 1);
  });

  test("an invitee's trade award pays its referrer a share, in the same transaction's events", async () => {
    const events = await eventsOf(await award(alice.address, 1_000n, bob.address));
    const awarded = events
      .filter((e) => e.name === 'sparksAwarded')
      .map((e) => e.data as SparksEventMap['sparksAwarded']);
    const toAlice = awarded.find((a) => a.account.owner === alice.address);
    assert.ok(toAlice, `an award to alice in ${JSON.stringify(events.map((e) => e.name))}`);
    assert.equal(toAlice.amount, 1_000n);
    assert.equal((await sparkOf(alice.address)).balance, 1_000n);
    // 10% to bob, on top of his 50.
    assert.equal((await sparkOf(bob.address)).balance, 150n);
    assert.equal((await sparkOf(bob.address)).earnedBySource[Source.Referral], 100n);
  });

  test('redeem_perk spends the cost, within max_cost, and the event names the claim', async () => {
    const [perk] = await findPerkPda({ id: SOLD_OUT_PERK });
    const signature = await send(alice, [
      await getRedeemPerkInstructionAsync({ owner: alice, payer: alice, perk, maxCost: 300n }),
    ]);
    const redeemed = only(await eventsOf(signature), 'perkRedeemed');
    assert.equal(redeemed.perk.id, SOLD_OUT_PERK);
    assert.equal(redeemed.perk.claimed, 1n);
    assert.equal(redeemed.claim.owner, alice.address);
    assert.equal(redeemed.claim.timesClaimed, 1);
    assert.equal((await sparkOf(alice.address)).balance, 700n);
  });

  test('join_whitelist grants a spot to a wallet past the threshold', async () => {
    const [whitelist] = await findWhitelistPda({ id: WHITELIST });
    const signature = await send(alice, [
      await getJoinWhitelistInstructionAsync({ owner: alice, payer: alice, whitelist }),
    ]);
    const granted = only(await eventsOf(signature), 'whitelistSpotGranted');
    assert.equal(granted.entry.wallet, alice.address);
    assert.equal(granted.entry.spotsGranted, 1);
  });

  test('every account type is fetched and decoded', async () => {
    const [configAddress] = await findConfigPda();
    const config = (await fetchConfig(rpc, configAddress)).data;
    assert.equal(config.admin, admin.address);
    assert.equal(config.referralTradeShareBps, 1_000);
    const issuerAccount = (await fetchIssuer(rpc, (await findIssuerPda({ authority: issuer.address }))[0])).data;
    assert.equal(issuerAccount.authority, issuer.address);
    assert.equal(issuerAccount.totalMinted, 1_150n);
    assert.equal(issuerAccount.awardIdFloor, 2n);
    const [perkAddress] = await findPerkPda({ id: SOLD_OUT_PERK });
    const perk = (await fetchPerk(rpc, perkAddress)).data;
    assert.deepEqual([perk.kind, perk.cost, perk.claimed, perk.maxSupply], [PerkKind.DiscordRole, 300n, 1n, 1n]);
    const claim = (await fetchPerkClaim(rpc, (await findClaimPda({ perk: perkAddress, owner: alice.address }))[0]))
      .data;
    assert.equal(claim.timesClaimed, 1);
    const spark = await sparkOf(alice.address);
    assert.deepEqual(
      [spark.balance, spark.lifetimeEarned, spark.lifetimeSpent, isSome(spark.referrer)],
      [700n, 1_000n, 300n, true],
    );
    const [whitelistAddress] = await findWhitelistPda({ id: WHITELIST });
    const whitelist = (await fetchWhitelist(rpc, whitelistAddress)).data;
    assert.deepEqual([whitelist.id, whitelist.capacity, whitelist.spotsGranted], [WHITELIST, 10, 1]);
    const entry = (
      await fetchWhitelistEntry(rpc, (await findEntryPda({ whitelist: whitelistAddress, wallet: alice.address }))[0])
    ).data;
    assert.deepEqual([entry.wallet, entry.spotsGranted, entry.spotsUsed], [alice.address, 1, 0]);
  });

  test('refusals come back by name, from a simulation or from the chain, and change nothing', async () => {
    const before = await sparkOf(alice.address);
    const redeem = async (id: bigint, maxCost: bigint) =>
      getRedeemPerkInstructionAsync({ owner: alice, payer: alice, perk: (await findPerkPda({ id }))[0], maxCost });
    const refusal = async (instruction: Instruction, skipPreflight = false) => {
      try {
        await send(alice, [instruction], { skipPreflight });
      } catch (error) {
        // Named as Sparks' because the instruction that failed is Sparks'
        // (`send` puts the compute-unit limit first).
        const refused = sparksErrorOf(error, [{ programAddress: COMPUTE_BUDGET }, instruction]);
        assert.ok(refused, `a program refusal in ${String(error)}`);
        assert.equal(
          sparksErrorOf(error, [{ programAddress: COMPUTE_BUDGET }, { programAddress: SYSTEM_PROGRAM }]),
          null,
        );
        assert.ok(refused.words.length > 0);
        return refused.name;
      }
      assert.fail('the program accepted it');
    };
    assert.equal(await refusal(await redeem(SOLD_OUT_PERK, 300n)), 'PerkSupplyExhausted');
    assert.equal(await refusal(await redeem(DEAR_PERK, 1_000_000n)), 'InsufficientBalance');
    assert.equal(await refusal(await redeem(DEAR_PERK, 10n)), 'CostAboveMax');
    // Refused by the chain itself (no simulation): the status's raw error.
    assert.equal(await refusal(await redeem(DEAR_PERK, 1_000_000n), true), 'InsufficientBalance');
    const [whitelist] = await findWhitelistPda({ id: WHITELIST });
    assert.equal(
      await refusal(await getJoinWhitelistInstructionAsync({ owner: alice, payer: alice, whitelist })),
      'AlreadyJoined',
    );
    assert.deepEqual(await sparkOf(alice.address), before);
  });

  test("a newcomer's refusals read in words: no Sparks account yet, no SOL for the fee", async () => {
    const refused = async (owner: KeyPairSigner) => {
      const redeem = await getRedeemPerkInstructionAsync({
        owner,
        payer: owner,
        perk: (await findPerkPda({ id: DEAR_PERK }))[0],
        maxCost: 1_000_000n,
      });
      try {
        await send(owner, [redeem]);
      } catch (error) {
        // No @solana/kit decoding hint reaches a person.
        assert.doesNotMatch(plainMessage(error), /npx|Decode/);
        return refusalOf(error, [{ programAddress: COMPUTE_BUDGET }, redeem]);
      }
      assert.fail('the redeem went through');
    };
    // SOL but no SparkAccount: Anchor's own check refuses in preflight (3012).
    const newcomer = await refused(await funded());
    assert.equal(newcomer?.origin, 'framework');
    assert.equal(newcomer?.name, 'AccountNotInitialized');
    assert.match(newcomer!.words, /You have no Sparks yet/);
    // No SOL at all: the network refuses before the program runs.
    const broke = await refused(await generateKeyPairSigner());
    assert.equal(broke?.origin, 'network', JSON.stringify(broke));
    assert.match(broke!.words, /no SOL/);
    // The program's own refusals come through refusalOf too.
    const raw = { InstructionError: [0, { Custom: Number(Object.keys(SPARKS_ERRORS)[0]) }] };
    assert.equal(refusalOf(raw)?.origin, 'program');
    assert.equal(refusalOf('InsufficientFundsForFee')?.name, 'InsufficientFundsForFee');
  });

  test("another program's custom code is not named as Sparks'", () => {
    // Every Anchor program numbers its errors from 6000.
    const code = Number(Object.keys(SPARKS_ERRORS)[0]);
    const raw = { InstructionError: [1, { Custom: code }] };
    const sparks = { programAddress: SPARKS_PROGRAM_ADDRESS };
    const other = { programAddress: SYSTEM_PROGRAM };
    assert.equal(sparksErrorOf(raw, [sparks, other]), null);
    assert.equal(sparksErrorOf(raw, [other, sparks])?.code, code);
    // Without the instructions, any custom code is read as Sparks'.
    assert.equal(sparksErrorOf(raw)?.code, code);
  });
});
