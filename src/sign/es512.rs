//! ES512 (ECDSA on P-521 with SHA-512), which `jsonwebtoken` does not offer.
//!
//! A JWS ES512 signature is `r || s`, each a 66-byte big-endian integer
//! (RFC 7518 §3.4): exactly what `p521::ecdsa::Signature::to_bytes` gives.
//! Signing is deterministic (RFC 6979).

use p521::ecdsa::signature::{Signer, Verifier};
use p521::ecdsa::{Signature, SigningKey, VerifyingKey};
use p521::pkcs8::{DecodePrivateKey, DecodePublicKey};

/// Length of an ES512 JWS signature.
pub const SIGNATURE_LEN: usize = 132;

/// Sign `message` with a P-521 private key: PKCS#8 (`PRIVATE KEY`) or SEC1
/// (`EC PRIVATE KEY`) PEM.
pub fn sign(pem: &str, message: &[u8]) -> Result<Vec<u8>, String> {
    let key = if pem.contains("-----BEGIN EC PRIVATE KEY-----") {
        let secret = p521::SecretKey::from_sec1_pem(pem)
            .map_err(|e| format!("not a P-521 EC private key: {e}"))?;
        SigningKey::from(secret)
    } else {
        SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| format!("not a P-521 private key in PKCS#8 PEM: {e}"))?
    };
    let sig: Signature = key.sign(message);
    Ok(sig.to_bytes().to_vec())
}

/// Whether `signature` (`r || s`) is valid for `message` under a P-521
/// public key in SubjectPublicKeyInfo PEM (`PUBLIC KEY`). `Err` when the key
/// itself is unusable.
pub fn verify(pem: &str, message: &[u8], signature: &[u8]) -> Result<bool, String> {
    let key = VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| format!("not a P-521 public key in PEM (PUBLIC KEY): {e}"))?;
    if signature.len() != SIGNATURE_LEN {
        return Ok(false);
    }
    let Ok(sig) = Signature::from_slice(signature) else {
        return Ok(false);
    };
    Ok(key.verify(message, &sig).is_ok())
}
