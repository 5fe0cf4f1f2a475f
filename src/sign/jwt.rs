//! JWS compact tokens as OPA's bundle signer (lestrrat-go/jwx) writes and
//! reads them: `base64url(header) "." base64url(payload) "." base64url(sig)`,
//! no padding. HMAC, RSA (PKCS#1 v1.5 and PSS) and ECDSA P-256/P-384 go
//! through `jsonwebtoken`'s low-level `crypto::sign`/`crypto::verify` (so the
//! header and payload bytes are exactly the ones regopt writes, and no JWT
//! claim validation applies: OPA's tokens carry no `exp`); ES512 goes through
//! [`super::es512`].

use std::fmt;
use std::path::Path;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

/// The signing algorithms OPA accepts for bundle signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SigAlg {
    HS256,
    HS384,
    HS512,
    #[default]
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
}

/// What kind of key an algorithm takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    /// A shared secret (HS*).
    Hmac,
    /// An RSA key (RS*, PS*).
    Rsa,
    /// An EC key on the curve the algorithm names (ES*).
    Ec,
}

impl SigAlg {
    /// Every algorithm.
    pub const ALL: [SigAlg; 12] = [
        SigAlg::HS256,
        SigAlg::HS384,
        SigAlg::HS512,
        SigAlg::RS256,
        SigAlg::RS384,
        SigAlg::RS512,
        SigAlg::PS256,
        SigAlg::PS384,
        SigAlg::PS512,
        SigAlg::ES256,
        SigAlg::ES384,
        SigAlg::ES512,
    ];

    /// The algorithm a JWS header's `alg` names.
    pub fn from_name(name: &str) -> Option<SigAlg> {
        SigAlg::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The JWS name.
    pub fn name(self) -> &'static str {
        match self {
            SigAlg::HS256 => "HS256",
            SigAlg::HS384 => "HS384",
            SigAlg::HS512 => "HS512",
            SigAlg::RS256 => "RS256",
            SigAlg::RS384 => "RS384",
            SigAlg::RS512 => "RS512",
            SigAlg::PS256 => "PS256",
            SigAlg::PS384 => "PS384",
            SigAlg::PS512 => "PS512",
            SigAlg::ES256 => "ES256",
            SigAlg::ES384 => "ES384",
            SigAlg::ES512 => "ES512",
        }
    }

    /// The kind of key it takes.
    pub fn family(self) -> KeyFamily {
        match self {
            SigAlg::HS256 | SigAlg::HS384 | SigAlg::HS512 => KeyFamily::Hmac,
            SigAlg::RS256
            | SigAlg::RS384
            | SigAlg::RS512
            | SigAlg::PS256
            | SigAlg::PS384
            | SigAlg::PS512 => KeyFamily::Rsa,
            SigAlg::ES256 | SigAlg::ES384 | SigAlg::ES512 => KeyFamily::Ec,
        }
    }

    /// The `jsonwebtoken` algorithm (`None` for ES512).
    fn jwt(self) -> Option<Algorithm> {
        Some(match self {
            SigAlg::HS256 => Algorithm::HS256,
            SigAlg::HS384 => Algorithm::HS384,
            SigAlg::HS512 => Algorithm::HS512,
            SigAlg::RS256 => Algorithm::RS256,
            SigAlg::RS384 => Algorithm::RS384,
            SigAlg::RS512 => Algorithm::RS512,
            SigAlg::PS256 => Algorithm::PS256,
            SigAlg::PS384 => Algorithm::PS384,
            SigAlg::PS512 => Algorithm::PS512,
            SigAlg::ES256 => Algorithm::ES256,
            SigAlg::ES384 => Algorithm::ES384,
            SigAlg::ES512 => return None,
        })
    }
}

impl fmt::Display for SigAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for SigAlg {
    type Err = String;

    fn from_str(s: &str) -> Result<SigAlg, String> {
        SigAlg::from_name(s).ok_or_else(|| {
            let names: Vec<&str> = SigAlg::ALL.iter().map(|a| a.name()).collect();
            format!(
                "unknown signing algorithm '{s}' (one of {})",
                names.join(", ")
            )
        })
    }
}

/// base64url without padding, as JWS uses.
pub fn b64_encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// base64url without padding, decoded as Go's `base64.RawURLEncoding` does
/// (non-zero trailing bits are accepted, padding is not).
pub fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(text).ok()
}

/// Key material named on the command line, as OPA takes it: text starting
/// with `-----BEGIN` is the key itself; otherwise the name of a file holding
/// it (a PEM key, or an HMAC secret used byte for byte); a name that is no
/// file is taken as the secret itself.
pub fn read_key_material(spec: &str) -> Result<Vec<u8>, String> {
    if spec.starts_with("-----BEGIN") {
        return Ok(spec.as_bytes().to_vec());
    }
    match std::fs::read(Path::new(spec)) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(spec.as_bytes().to_vec()),
        Err(e) => Err(format!("cannot read the key file: {e}")),
    }
}

/// Whether key material is a PEM document.
pub fn is_pem(key: &[u8]) -> bool {
    key.trim_ascii_start().starts_with(b"-----BEGIN")
}

/// The label of the first PEM block (`PUBLIC KEY`, `EC PRIVATE KEY`, ...).
fn pem_label(key: &str) -> Option<&str> {
    let start = key.find("-----BEGIN ")? + "-----BEGIN ".len();
    let end = key[start..].find("-----")?;
    Some(&key[start..start + end])
}

fn pem_text(key: &[u8], alg: SigAlg) -> Result<&str, String> {
    if !is_pem(key) {
        return Err(format!("{alg} needs a PEM key; this is not a PEM document"));
    }
    std::str::from_utf8(key).map_err(|_| "the PEM key is not valid UTF-8".to_string())
}

/// An EC private key as PKCS#8 PEM (SEC1 `EC PRIVATE KEY` is converted, as
/// OPA accepts both).
fn ec_private_pkcs8(pem: &str, alg: SigAlg) -> Result<String, String> {
    use p256::pkcs8::{EncodePrivateKey, LineEnding};
    if pem_label(pem) != Some("EC PRIVATE KEY") {
        return Ok(pem.to_string());
    }
    let converted = match alg {
        SigAlg::ES256 => p256::SecretKey::from_sec1_pem(pem)
            .map_err(|e| format!("not a P-256 EC private key: {e}"))?
            .to_pkcs8_pem(LineEnding::LF),
        _ => p384::SecretKey::from_sec1_pem(pem)
            .map_err(|e| format!("not a P-384 EC private key: {e}"))?
            .to_pkcs8_pem(LineEnding::LF),
    };
    converted
        .map(|z| z.to_string())
        .map_err(|e| format!("cannot convert the EC key to PKCS#8: {e}"))
}

/// Sign `message` (the JWS signing input); returns the base64url signature.
/// `Err` describes why the key cannot be used with `alg`.
pub fn sign(alg: SigAlg, key: &[u8], message: &[u8]) -> Result<String, String> {
    if alg == SigAlg::ES512 {
        return es512_sign(key, message);
    }
    let jwt_alg = alg.jwt().ok_or("unsupported algorithm")?;
    let encoding = match alg.family() {
        KeyFamily::Hmac => {
            if is_pem(key) {
                return Err(format!(
                    "{alg} takes a shared secret, but this is a PEM key (choose --signing-alg RS256, PS256 or ES256 for it)"
                ));
            }
            if key.is_empty() {
                return Err("the HMAC secret is empty".into());
            }
            EncodingKey::from_secret(key)
        }
        KeyFamily::Rsa => {
            let pem = pem_text(key, alg)?;
            EncodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("not an RSA private key in PEM: {e}"))?
        }
        KeyFamily::Ec => {
            let pem = ec_private_pkcs8(pem_text(key, alg)?, alg)?;
            EncodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| format!("not an EC private key in PKCS#8 PEM: {e}"))?
        }
    };
    jsonwebtoken::crypto::sign(message, &encoding, jwt_alg)
        .map_err(|e| format!("cannot sign with this key and {alg}: {e}"))
}

fn es512_sign(key: &[u8], message: &[u8]) -> Result<String, String> {
    let pem = pem_text(key, SigAlg::ES512)?;
    Ok(b64_encode(&super::es512::sign(pem, message)?))
}

/// Check a base64url `signature` over `message`. `Ok(false)`: the signature
/// does not verify; `Err`: the key cannot be used with `alg` (an HMAC token
/// checked against a PEM key is refused here, so that a public key can never
/// serve as an HMAC secret).
pub fn verify(alg: SigAlg, key: &[u8], message: &[u8], signature: &str) -> Result<bool, String> {
    if alg == SigAlg::ES512 {
        let pem = pem_text(key, alg)?;
        let Some(sig) = b64_decode(signature) else {
            return Ok(false);
        };
        return super::es512::verify(pem, message, &sig);
    }
    let jwt_alg = alg.jwt().ok_or("unsupported algorithm")?;
    let decoding = match alg.family() {
        KeyFamily::Hmac => {
            if is_pem(key) {
                return Err(format!(
                    "the token is signed with {alg} (a shared secret), but the verification key is a PEM key"
                ));
            }
            if key.is_empty() {
                return Err("the HMAC secret is empty".into());
            }
            DecodingKey::from_secret(key)
        }
        KeyFamily::Rsa => {
            let pem = pem_text(key, alg)?;
            if pem_label(pem).is_some_and(|l| l.contains("PRIVATE")) {
                return Err(format!(
                    "the token is signed with {alg}: give the RSA public key (PUBLIC KEY or RSA PUBLIC KEY PEM)"
                ));
            }
            DecodingKey::from_rsa_pem(pem.as_bytes())
                .map_err(|e| format!("not an RSA public key in PEM: {e}"))?
        }
        KeyFamily::Ec => {
            let pem = pem_text(key, alg)?;
            if pem_label(pem).is_some_and(|l| l.contains("PRIVATE")) {
                return Err(format!(
                    "the token is signed with {alg}: give the EC public key (PUBLIC KEY PEM)"
                ));
            }
            DecodingKey::from_ec_pem(pem.as_bytes())
                .map_err(|e| format!("not an EC public key in PEM: {e}"))?
        }
    };
    // A key of the right family but the wrong size or curve fails inside
    // the verifier: that is a signature that does not verify with this key.
    Ok(jsonwebtoken::crypto::verify(signature, message, &decoding, jwt_alg).unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        for a in SigAlg::ALL {
            assert_eq!(a.name().parse::<SigAlg>().unwrap(), a);
        }
        assert!("none".parse::<SigAlg>().is_err());
        assert!("rs256".parse::<SigAlg>().is_err());
        assert_eq!(SigAlg::default(), SigAlg::RS256);
    }

    #[test]
    fn hmac_round_trip_and_confusion_guard() {
        for alg in [SigAlg::HS256, SigAlg::HS384, SigAlg::HS512] {
            let sig = sign(alg, b"secret", b"a.b").unwrap();
            assert!(verify(alg, b"secret", b"a.b", &sig).unwrap());
            assert!(!verify(alg, b"other", b"a.b", &sig).unwrap());
            assert!(!verify(alg, b"secret", b"a.c", &sig).unwrap());
        }
        let pem = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert!(verify(SigAlg::HS256, pem, b"a.b", "x").is_err());
        assert!(sign(SigAlg::HS256, pem, b"a.b").is_err());
        assert!(sign(SigAlg::HS256, b"", b"a.b").is_err());
    }

    #[test]
    fn base64_matches_go_raw_url() {
        assert_eq!(b64_encode(b"\xfb\xff"), "-_8");
        assert_eq!(b64_decode("-_8").unwrap(), b"\xfb\xff");
        assert!(b64_decode("-_8=").is_none());
    }
}
