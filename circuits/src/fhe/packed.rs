//! Stored blocks packed as tfhe's list compression packs them, and read back through a table:
//! the table is applied in the decompression's own blind rotation, so reading `f(d)` costs what
//! reading `d` costs — one blind rotation.
//!
//! tfhe's `DecompressionKey::unpack` (`tfhe::shortint::list_compression`) is a blind rotation
//! with a fixed identity table, and its packed list keeps its GLWEs to itself; so this module
//! builds the same packed form from the same keys with tfhe's public `core_crypto` calls —
//! scale each block by the message modulus, one packing keyswitch per `lwe_per_glwe` blocks,
//! modulus-switch the GLWE to the storage modulus — and reads it back the same way `unpack`
//! does (sample extraction, the decompression key's modulus switch, blind rotation, sample
//! extraction) with any table `f: 0..4 → 0..16` in place of the identity. With the identity
//! the block read is bit for bit the one tfhe's `unpack` gives (tested), so this is tfhe's
//! decompression with a table of the caller's choosing, not a new primitive.
//!
//! This is the building block for plans that read a digit *through a function* (a class value,
//! a weighted digit) without a bootstrap of its own; the query path does not use it yet.

use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use tfhe::conformance::ParameterSetConformant;
use tfhe::core_crypto::entities::compressed_modulus_switched_glwe_ciphertext::CompressedModulusSwitchedGlweCiphertext;
use tfhe::core_crypto::entities::glwe_ciphertext::GlweCiphertextConformanceParams;
use tfhe::core_crypto::prelude::{
    blind_rotate_assign_mem_optimized, blind_rotate_assign_mem_optimized_requirement,
    extract_lwe_sample_from_glwe_ciphertext, generate_programmable_bootstrap_glwe_lut,
    lwe_ciphertext_cleartext_mul_assign,
    par_keyswitch_lwe_ciphertext_list_and_pack_in_glwe_ciphertext, CiphertextModulusLog, Cleartext,
    ComputationBuffers, Fft, FourierLweBootstrapKeyOwned, GlweCiphertext, LweCiphertext,
    LweCiphertextCount, LweCiphertextList, LweDimension, LwePackingKeyswitchKey, MonomialDegree,
};
use tfhe::shortint::parameters::{
    AtomicPatternKind, CarryModulus, Degree, MessageModulus, NoiseLevel, PBSOrder,
};
use tfhe::shortint::server_key::{ModulusSwitchConfiguration, ShortintBootstrappingKey};
use tfhe::shortint::Ciphertext;
use tfhe::ServerKey;

/// Message and carry modulus of the blocks packed (the plan model's 2-bit blocks).
const MODULUS: u64 = 4;
/// The scale of a block's value `v ∈ 0..16` in its 64-bit torus (padding bit, 4 message bits).
const DELTA: u64 = 1 << 59;

/// What packing or reading refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    /// The server key has no compression or decompression key, or one of another shape.
    #[error("server key unsuited to packing: {0}")]
    Key(String),
    /// A block that cannot be packed (it must be fresh, carry-free, of the key's shape).
    #[error("block {index} cannot be packed: {reason}")]
    Block {
        /// Its position in the input.
        index: usize,
        /// Why.
        reason: String,
    },
    /// A read outside the packed blocks.
    #[error("block {index} read from a list of {len}")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// Blocks packed.
        len: usize,
    },
    /// A table value outside a block.
    #[error("table value {0} does not fit a block (at most 15)")]
    Table(u8),
    /// A packed list whose shape is not the keys' (a stored list made with other keys).
    #[error("packed list does not match the keys: {0}")]
    Shape(String),
}

thread_local! {
    /// The blind rotation's scratch memory, kept per thread (as tfhe keeps its own).
    static BUFFERS: RefCell<ComputationBuffers> = RefCell::new(ComputationBuffers::new());
}

/// Packs blocks: the packing keyswitch key of the server key's compression key.
pub struct PackingKey {
    pksk: LwePackingKeyswitchKey<Vec<u64>>,
    lwe_per_glwe: usize,
    storage_log_modulus: CiphertextModulusLog,
}

/// Reads packed blocks through a table: the decompression key's blind-rotation key.
pub struct ReadKey {
    /// The shape every packed GLWE must have (the compression key's output).
    glwe: GlweCiphertextConformanceParams<u64>,
    /// The modulus every packed GLWE is stored at (the compression key's).
    storage_log_modulus: CiphertextModulusLog,
    bsk: FourierLweBootstrapKeyOwned,
    switch: ModulusSwitchConfiguration<u64>,
    lwe_per_glwe: usize,
    output_dimension: LweDimension,
}

/// Blocks packed `lwe_per_glwe` to a GLWE, each GLWE modulus-switched to the storage modulus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackedBlocks {
    glwes: Vec<CompressedModulusSwitchedGlweCiphertext<u64>>,
    lwe_per_glwe: usize,
    len: usize,
}

impl PackedBlocks {
    /// Blocks packed.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is packed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PackingKey {
    /// The packing key of `server_key`'s compression key.
    pub fn new(server_key: &ServerKey) -> Result<Self, PackError> {
        let (_, _, compression, ..) = server_key.clone().into_raw_parts();
        let key = compression
            .ok_or_else(|| PackError::Key("no compression key".into()))?
            .into_raw_parts();
        if key.lwe_per_glwe.0 == 0
            || key.lwe_per_glwe.0 > key.packing_key_switching_key.output_polynomial_size().0
        {
            return Err(PackError::Key(format!(
                "{} blocks per GLWE of {} coefficients",
                key.lwe_per_glwe.0,
                key.packing_key_switching_key.output_polynomial_size().0
            )));
        }
        Ok(PackingKey {
            pksk: key.packing_key_switching_key,
            lwe_per_glwe: key.lwe_per_glwe.0,
            storage_log_modulus: key.storage_log_modulus,
        })
    }

    /// Packs `blocks` as tfhe's `compress_ciphertexts_into_list` does: each block must be
    /// fresh (nominal noise), hold a 2-bit message with an empty carry, and be under the key
    /// the compression key switches from.
    pub fn pack(&self, blocks: &[Ciphertext]) -> Result<PackedBlocks, PackError> {
        let lwe_size = self.pksk.input_key_lwe_dimension().to_lwe_size();
        let modulus = self.pksk.ciphertext_modulus();
        for (index, b) in blocks.iter().enumerate() {
            let bad = |reason: &str| PackError::Block {
                index,
                reason: reason.into(),
            };
            if b.message_modulus.0 != MODULUS || b.carry_modulus.0 != MODULUS {
                return Err(bad("not a 2-bit block with a 2-bit carry"));
            }
            if b.noise_level() != NoiseLevel::NOMINAL && b.noise_level() != NoiseLevel::ZERO {
                return Err(bad("not fresh (noise above nominal)"));
            }
            if b.atomic_pattern != AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap) {
                return Err(bad("not a keyswitch-bootstrap block"));
            }
            if !b.carry_is_empty() {
                return Err(bad("its carry is not empty"));
            }
            if b.ct.lwe_size() != lwe_size || b.ct.ciphertext_modulus() != modulus {
                return Err(bad("not under the key the compression key switches from"));
            }
        }
        let glwes = blocks
            .chunks(self.lwe_per_glwe)
            .map(|chunk| {
                let mut data = Vec::with_capacity(chunk.len() * lwe_size.0);
                for b in chunk {
                    // The message moves up into the carry bits: the packed value is `4·d`.
                    let mut ct = b.ct.clone();
                    lwe_ciphertext_cleartext_mul_assign(&mut ct, Cleartext(MODULUS));
                    data.extend_from_slice(ct.as_ref());
                }
                let list = LweCiphertextList::from_container(data, lwe_size, modulus);
                let mut glwe = GlweCiphertext::new(
                    0u64,
                    self.pksk.output_glwe_size(),
                    self.pksk.output_polynomial_size(),
                    modulus,
                );
                par_keyswitch_lwe_ciphertext_list_and_pack_in_glwe_ciphertext(
                    &self.pksk, &list, &mut glwe,
                );
                CompressedModulusSwitchedGlweCiphertext::compress(
                    &glwe,
                    self.storage_log_modulus,
                    LweCiphertextCount(chunk.len()),
                )
            })
            .collect();
        Ok(PackedBlocks {
            glwes,
            lwe_per_glwe: self.lwe_per_glwe,
            len: blocks.len(),
        })
    }
}

impl ReadKey {
    /// The blind-rotation key of `server_key`'s decompression key (a classic one: the
    /// parameters Credence uses), and the packed shape its compression key makes.
    pub fn new(server_key: &ServerKey) -> Result<Self, PackError> {
        let (_, _, compression, decompression, ..) = server_key.clone().into_raw_parts();
        let compression = compression
            .ok_or_else(|| PackError::Key("no compression key".into()))?
            .into_raw_parts();
        let storage_log_modulus = compression.storage_log_modulus;
        let pksk = compression.packing_key_switching_key;
        let glwe = GlweCiphertextConformanceParams {
            glwe_dim: pksk.output_glwe_size().to_glwe_dimension(),
            polynomial_size: pksk.output_polynomial_size(),
            ct_modulus: pksk.ciphertext_modulus(),
        };
        let key = decompression
            .ok_or_else(|| PackError::Key("no decompression key".into()))?
            .into_raw_parts();
        let (bsk, lwe_per_glwe) = key.into_raw_parts();
        if lwe_per_glwe.0 == 0 || lwe_per_glwe.0 > glwe.polynomial_size.0 {
            return Err(PackError::Key(format!(
                "{} blocks per GLWE of {} coefficients",
                lwe_per_glwe.0, glwe.polynomial_size.0
            )));
        }
        match bsk {
            ShortintBootstrappingKey::Classic {
                bsk,
                modulus_switch_noise_reduction_key,
            } if glwe
                .glwe_dim
                .to_equivalent_lwe_dimension(glwe.polynomial_size)
                == bsk.input_lwe_dimension() =>
            {
                Ok(ReadKey {
                    glwe,
                    storage_log_modulus,
                    output_dimension: bsk.output_lwe_dimension(),
                    bsk,
                    switch: modulus_switch_noise_reduction_key,
                    lwe_per_glwe: lwe_per_glwe.0,
                })
            }
            ShortintBootstrappingKey::Classic { bsk, .. } => Err(PackError::Key(format!(
                "the decompression key reads LWE dimension {}, the compression key packs {}",
                bsk.input_lwe_dimension().0,
                glwe.glwe_dim
                    .to_equivalent_lwe_dimension(glwe.polynomial_size)
                    .0
            ))),
            ShortintBootstrappingKey::MultiBit { .. } => Err(PackError::Key(
                "a multi-bit decompression key (only classic ones are read)".into(),
            )),
        }
    }

    /// Whether `packed` has the shape these keys pack: every GLWE conformant to the
    /// compression key's output and stored at its modulus, all full but the last, `len` blocks in all. A stored list
    /// is checked before anything reads it, so a malformed one is refused, never a panic.
    pub fn check(&self, packed: &PackedBlocks) -> Result<(), PackError> {
        let shape = |why: String| Err(PackError::Shape(why));
        if packed.lwe_per_glwe != self.lwe_per_glwe {
            return shape(format!(
                "{} blocks per GLWE; the key packs {}",
                packed.lwe_per_glwe, self.lwe_per_glwe
            ));
        }
        if packed.glwes.len() != packed.len.div_ceil(self.lwe_per_glwe) {
            return shape(format!(
                "{} GLWEs for {} blocks",
                packed.glwes.len(),
                packed.len
            ));
        }
        for (i, g) in packed.glwes.iter().enumerate() {
            if !g.is_conformant(&self.glwe) {
                return shape(format!("GLWE {i} is not of the compression key's shape"));
            }
            // One stored form only: another storage modulus reads, but is not what these keys
            // store (found by review).
            if g.packed_integers().log_modulus() != self.storage_log_modulus {
                return shape(format!(
                    "GLWE {i} is stored at {} bits, the key stores at {}",
                    g.packed_integers().log_modulus().0,
                    self.storage_log_modulus.0
                ));
            }
            let want = (packed.len - i * self.lwe_per_glwe).min(self.lwe_per_glwe);
            if g.bodies_count().0 != want {
                return shape(format!(
                    "GLWE {i} holds {} blocks, not {want}",
                    g.bodies_count().0
                ));
            }
        }
        Ok(())
    }

    /// Block `index` of `packed`, holding `table[d]` where `d` is the packed digit: one blind
    /// rotation, the block fresh (nominal noise) under the computation key, as
    /// tfhe's `DecompressionKey::unpack` returns it.
    pub fn read(
        &self,
        packed: &PackedBlocks,
        index: usize,
        table: &[u8; 4],
    ) -> Result<Ciphertext, PackError> {
        if index >= packed.len {
            return Err(PackError::OutOfRange {
                index,
                len: packed.len,
            });
        }
        if let Some(&v) = table.iter().find(|&&v| u64::from(v) >= MODULUS * MODULUS) {
            return Err(PackError::Table(v));
        }
        self.check(packed)?;
        let glwe = packed.glwes[index / self.lwe_per_glwe].extract();
        let input_size = self
            .glwe
            .glwe_dim
            .to_equivalent_lwe_dimension(self.glwe.polynomial_size);
        let modulus = glwe.ciphertext_modulus();
        let mut lwe = LweCiphertext::new(0u64, input_size.to_lwe_size(), modulus);
        extract_lwe_sample_from_glwe_ciphertext(
            &glwe,
            &mut lwe,
            MonomialDegree(index % self.lwe_per_glwe),
        );
        // The packed phase is `4d·Δ`: four boxes over the accumulator, one per digit, each
        // holding `table[d]·Δ` — the identity table is tfhe's own rescaling table.
        let mut acc = generate_programmable_bootstrap_glwe_lut(
            self.bsk.polynomial_size(),
            self.bsk.glwe_size(),
            MODULUS as usize,
            modulus,
            DELTA,
            |d: u64| u64::from(table[d as usize % table.len()]),
        );
        let switched = self.switch.lwe_ciphertext_modulus_switch::<usize, _>(
            &lwe,
            self.bsk
                .polynomial_size()
                .to_blind_rotation_input_modulus_log(),
        );
        let fft = Fft::new(self.bsk.polynomial_size());
        let fft = fft.as_view();
        BUFFERS.with_borrow_mut(|buffers| {
            buffers.resize(
                blind_rotate_assign_mem_optimized_requirement::<u64>(
                    self.bsk.glwe_size(),
                    self.bsk.polynomial_size(),
                    fft,
                )
                .unaligned_bytes_required(),
            );
            blind_rotate_assign_mem_optimized(&switched, &mut acc, &self.bsk, fft, buffers.stack());
        });
        let mut out = LweCiphertext::new(0u64, self.output_dimension.to_lwe_size(), modulus);
        extract_lwe_sample_from_glwe_ciphertext(&acc, &mut out, MonomialDegree(0));
        let max = table.iter().copied().max().unwrap_or(0);
        Ok(Ciphertext::new(
            out,
            Degree::new(u64::from(max)),
            NoiseLevel::NOMINAL,
            MessageModulus(MODULUS),
            CarryModulus(MODULUS),
            AtomicPatternKind::Standard(PBSOrder::KeyswitchBootstrap),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;
    use tfhe::integer::ciphertext::IntegerCiphertext;
    use tfhe::prelude::*;
    use tfhe::shortint::parameters::{
        COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
        PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
    };
    use tfhe::{
        ClientKey, CompressedCiphertextListBuilder, ConfigBuilder, FheUint16, FheUint2, FheUint2Id,
    };

    struct Keys {
        client: ClientKey,
        server: ServerKey,
        shortint_client: tfhe::shortint::ClientKey,
        shortint_server: tfhe::shortint::ServerKey,
        packing: PackingKey,
        read: ReadKey,
    }

    /// Credence's parameters (`src/fhe/keys.rs`), generated once for this test binary.
    fn keys() -> &'static Keys {
        static K: OnceLock<Keys> = OnceLock::new();
        K.get_or_init(|| {
            let config = ConfigBuilder::with_custom_parameters(
                PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128,
            )
            .enable_compression(COMP_PARAM_MESSAGE_2_CARRY_2_KS_PBS_TUNIFORM_2M128)
            .build();
            let client = ClientKey::generate(config);
            let server = ServerKey::new(&client);
            let (ck, ..) = client.clone().into_raw_parts();
            let (sk, ..) = server.clone().into_raw_parts();
            Keys {
                shortint_client: ck.into_raw_parts(),
                shortint_server: sk.into_raw_parts(),
                packing: PackingKey::new(&server).unwrap(),
                read: ReadKey::new(&server).unwrap(),
                client,
                server,
            }
        })
    }

    fn blocks_of(values: &[u16]) -> Vec<Ciphertext> {
        let k = keys();
        values
            .iter()
            .flat_map(|v| {
                let (radix, ..) = FheUint16::encrypt(*v, &k.client).into_raw_parts();
                radix.blocks().to_vec()
            })
            .collect()
    }

    fn digit(values: &[u16], i: usize) -> usize {
        usize::from(values[i / 8] >> (2 * (i % 8))) & 3
    }

    #[test]
    fn the_identity_table_reads_what_tfhe_decompresses_bit_for_bit() {
        let k = keys();
        tfhe::set_server_key(k.server.clone());
        // More blocks than one GLWE packs (256), so the second GLWE is read too.
        let values: Vec<u16> = (0..36u16).map(|i| i.wrapping_mul(7919) ^ 0x5a5a).collect();
        let blocks = blocks_of(&values);
        let mut builder = CompressedCiphertextListBuilder::new();
        for b in &blocks {
            builder.push(FheUint2::from_raw_parts(
                tfhe::integer::RadixCiphertext::from(vec![b.clone()]),
                FheUint2Id,
                tfhe::Tag::default(),
                tfhe::ReRandomizationMetadata::default(),
            ));
        }
        let theirs = builder.build().unwrap();
        let ours = k.packing.pack(&blocks).unwrap();
        assert_eq!(ours.len(), blocks.len());
        for i in [0, 1, 7, 100, 255, 256, 257, blocks.len() - 1] {
            let t: FheUint2 = theirs.get(i).unwrap().unwrap();
            let (radix, ..) = t.into_raw_parts();
            let t = radix.blocks()[0].clone();
            let o = k.read.read(&ours, i, &[0, 1, 2, 3]).unwrap();
            assert_eq!(o.ct, t.ct, "block {i}: not tfhe's decompression");
            assert_eq!(o.noise_level(), t.noise_level());
            assert_eq!(o.atomic_pattern, t.atomic_pattern);
            assert_eq!(
                k.shortint_client.decrypt_message_and_carry(&o) as usize,
                digit(&values, i)
            );
        }
    }

    #[test]
    fn a_table_is_applied_in_the_read() {
        let k = keys();
        // Every digit 0..=3 in each half.
        let values = [0x1b1bu16, 0xe4e4];
        let blocks = blocks_of(&values);
        let packed = k.packing.pack(&blocks).unwrap();
        let tables: [[u8; 4]; 3] = [[0, 5, 10, 15], [15, 0, 7, 1], [12, 12, 12, 12]];
        for table in &tables {
            for i in 0..blocks.len() {
                let b = k.read.read(&packed, i, table).unwrap();
                let want = table[digit(&values, i)];
                assert_eq!(
                    k.shortint_client.decrypt_message_and_carry(&b),
                    u64::from(want),
                    "block {i}, table {table:?}"
                );
            }
        }
        // Read blocks are fresh: summed at the plan model's noise budget (five of them) and
        // looked up, as a plan does with any block.
        let s = &k.shortint_server;
        let parts: Vec<Ciphertext> = (0..5)
            .map(|i| k.read.read(&packed, 8 + i, &[0, 1, 2, 3]).unwrap())
            .collect();
        let mut sum = parts[0].clone();
        for p in &parts[1..] {
            s.unchecked_add_assign(&mut sum, p);
        }
        let want: usize = (0..5).map(|i| digit(&values, 8 + i)).sum();
        assert_eq!(sum.noise_level(), NoiseLevel::NOMINAL * 5);
        let lut = s.generate_lookup_table(|x| (x * 3) % 16);
        let looked = s.apply_lookup_table(&sum, &lut);
        assert_eq!(
            k.shortint_client.decrypt_message_and_carry(&looked) as usize,
            (want * 3) % 16
        );
        let weighted = k.read.read(&packed, 9, &[0, 4, 8, 12]).unwrap();
        let low = k.read.read(&packed, 8, &[0, 1, 2, 3]).unwrap();
        let pair = s.unchecked_add(&weighted, &low);
        assert_eq!(pair.noise_level(), NoiseLevel::NOMINAL * 2);
        assert_eq!(
            k.shortint_client.decrypt_message_and_carry(&pair) as usize,
            4 * digit(&values, 9) + digit(&values, 8)
        );
    }

    #[test]
    fn bad_reads_and_blocks_are_refused() {
        let k = keys();
        let blocks = blocks_of(&[0x0123]);
        let packed = k.packing.pack(&blocks).unwrap();
        assert_eq!(
            k.read.read(&packed, 8, &[0, 1, 2, 3]).unwrap_err(),
            PackError::OutOfRange { index: 8, len: 8 }
        );
        assert_eq!(
            k.read.read(&packed, 0, &[0, 16, 2, 3]).unwrap_err(),
            PackError::Table(16)
        );
        // Lists not of the keys' shape: a length its GLWEs do not hold, a first GLWE not
        // full, another packing width.
        let mut forged = packed.clone();
        forged.len = 300;
        let mut short = k.packing.pack(&blocks).unwrap();
        short.glwes.push(packed.glwes[0].clone());
        short.len = k.read.lwe_per_glwe + 8;
        let mut narrow = packed.clone();
        narrow.lwe_per_glwe = 8;
        for (f, why) in [
            (&forged, "1 GLWEs for 300 blocks"),
            (&short, "GLWE 0 holds 8 blocks"),
            (&narrow, "8 blocks per GLWE"),
        ] {
            match k.read.read(f, f.len - 1, &[0, 1, 2, 3]) {
                Err(PackError::Shape(s)) => assert!(s.contains(why), "{s}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        assert_eq!(k.read.check(&packed), Ok(()));
        // The same GLWE stored at another modulus: it would read, but it is not the one form
        // these keys store.
        for log in [1usize, 13, 64] {
            let mut other = packed.clone();
            other.glwes[0] = CompressedModulusSwitchedGlweCiphertext::compress(
                &packed.glwes[0].extract(),
                CiphertextModulusLog(log),
                LweCiphertextCount(blocks.len()),
            );
            match k.read.read(&other, 0, &[0, 1, 2, 3]) {
                Err(PackError::Shape(s)) => assert!(s.contains("stored at"), "{s}"),
                other => panic!("log {log}: {other:?}"),
            }
        }
        let s = &k.shortint_server;
        // A block with a carry (3 + 3), one that is not fresh, one under the small key.
        let full = s.unchecked_add(&blocks[0], &blocks[1]);
        let carried = s.apply_lookup_table(&blocks[0], &s.generate_lookup_table(|x| x + 4));
        for (bad, why) in [
            (carried, "carry"),
            (full, "fresh"),
            (
                {
                    let mut b = blocks[0].clone();
                    b.ct = LweCiphertext::new(
                        0u64,
                        LweDimension(16).to_lwe_size(),
                        b.ct.ciphertext_modulus(),
                    );
                    b
                },
                "key",
            ),
        ] {
            match k.packing.pack(&[blocks[2].clone(), bad]) {
                Err(PackError::Block { index: 1, reason }) => {
                    assert!(reason.contains(why), "{reason}")
                }
                other => panic!("{why}: {other:?}"),
            }
        }
    }
}
