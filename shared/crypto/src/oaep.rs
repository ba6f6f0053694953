//! RSA-OAEP decryption (SHA-256 for hash and MGF1) with every check of RFC 8017 §7.1.2.
//!
//! rsa 0.10.0's OAEP decoder omits the check that the leading byte of the encoded message is zero: the
//! Wycheproof vectors "First byte is 1" decrypt instead of failing. We therefore decode the padding here, on
//! top of rsa's blinded, constant-time RSA primitive, folding all checks into one constant-time verdict.

use rsa::BoxedUint;
use rsa::hazmat::rsa_decrypt_and_check;
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::error::{CryptoError, Result};
use crate::keys::PrivateKey;

const HASH_BYTES: usize = 32;

pub(crate) fn decrypt(
    key: &PrivateKey,
    ciphertext: &[u8],
    label: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let inner = &key.inner;
    let k = inner.size();
    if ciphertext.len() != k || k < 2 * HASH_BYTES + 2 {
        return Err(CryptoError::CannotDecrypt);
    }
    let c = BoxedUint::from_be_slice(ciphertext, inner.n_bits_precision())
        .map_err(|_| CryptoError::CannotDecrypt)?;
    let m = Zeroizing::new(
        rsa_decrypt_and_check(inner, Some(&mut rand::rngs::SysRng), &c)
            .map_err(|_| CryptoError::CannotDecrypt)?,
    );
    let m_bytes = Zeroizing::new(m.to_be_bytes());
    // m < n, so any bytes beyond k on the left are zero; the precision is a whole number of limbs.
    let mut em = Zeroizing::new(vec![0u8; k]);
    let take = m_bytes.len().min(k);
    em[k - take..].copy_from_slice(&m_bytes[m_bytes.len() - take..]);
    decode(&mut em, label).ok_or(CryptoError::CannotDecrypt)
}

/// EME-OAEP decoding. Runs in time independent of where (or whether) the padding is wrong.
fn decode(em: &mut [u8], label: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let (first, rest) = em.split_first_mut()?;
    let (seed, db) = rest.split_at_mut(HASH_BYTES);
    mgf1_xor(seed, db);
    mgf1_xor(db, seed);

    let label_hash = Sha256::digest(label);
    let mut valid = first.ct_eq(&0u8) & db[..HASH_BYTES].ct_eq(label_hash.as_slice());

    // After the label hash: zero or more 0x00 bytes, one 0x01, then the message.
    let mut looking_for_one = Choice::from(1);
    let mut one_index = 0u32;
    let mut nonzero_before_one = Choice::from(0);
    for (i, byte) in db[HASH_BYTES..].iter().enumerate() {
        let is_zero = byte.ct_eq(&0u8);
        let is_one = byte.ct_eq(&1u8);
        one_index.conditional_assign(&(i as u32), looking_for_one & is_one);
        looking_for_one &= !is_one;
        nonzero_before_one |= looking_for_one & !is_zero;
    }
    valid &= !looking_for_one & !nonzero_before_one;
    if bool::from(valid) {
        Some(Zeroizing::new(
            db[HASH_BYTES + one_index as usize + 1..].to_vec(),
        ))
    } else {
        None
    }
}

/// `out ^= MGF1-SHA256(seed, out.len())`.
fn mgf1_xor(out: &mut [u8], seed: &[u8]) {
    for (counter, chunk) in out.chunks_mut(HASH_BYTES).enumerate() {
        let mask = Sha256::new()
            .chain_update(seed)
            .chain_update((counter as u32).to_be_bytes())
            .finalize();
        chunk.iter_mut().zip(mask.iter()).for_each(|(o, m)| *o ^= m);
    }
}
