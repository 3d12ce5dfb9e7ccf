//! G.711 mu-law and A-law (ITU-T G.711), sample by sample.

const MU_BIAS: i32 = 0x84;
const MU_CLIP: i32 = 32_635;

pub fn mulaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(MU_CLIP) + MU_BIAS;
    let exponent = (7 - ((s as u32) << 17).leading_zeros().min(7)) as i32;
    let mantissa = (s >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) as u8 as i32 | mantissa) as u8
}

pub fn mulaw_decode(code: u8) -> i16 {
    let c = !code;
    let exponent = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + MU_BIAS) << exponent) - MU_BIAS;
    if c & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

pub fn alaw_encode(sample: i16) -> u8 {
    let mut s = sample as i32;
    let sign = if s >= 0 { 0x80 } else { 0x00 };
    if s < 0 {
        s = -s - 1;
    }
    s = s.min(32_767) >> 3;
    let code = if s < 32 {
        (s >> 1) as u8
    } else {
        let exponent = 31 - (s as u32).leading_zeros() - 4; // 1..=7
        let mantissa = (s >> exponent) & 0x0F;
        ((exponent << 4) as u8) | mantissa as u8
    };
    (code | sign) ^ 0x55
}

pub fn alaw_decode(code: u8) -> i16 {
    let c = code ^ 0x55;
    let exponent = ((c >> 4) & 0x07) as i32;
    let mantissa = (c & 0x0F) as i32;
    let magnitude = if exponent == 0 { (mantissa << 4) + 8 } else { ((mantissa << 4) + 0x108) << (exponent - 1) };
    if c & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_all_codes_round_trip() {
        for code in 0..=255u8 {
            let s = mulaw_decode(code);
            let back = mulaw_encode(s);
            // 0x7F and 0xFF both decode to 0; encoding 0 gives 0xFF.
            let expect = if code == 0x7F { 0xFF } else { code };
            assert_eq!(back, expect, "code {code:#04x} -> {s}");
        }
        assert_eq!(mulaw_decode(0x00), -32_124);
        assert_eq!(mulaw_decode(0x80), 32_124);
        assert_eq!(mulaw_encode(i16::MAX), 0x80);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
    }

    #[test]
    fn alaw_all_codes_round_trip() {
        for code in 0..=255u8 {
            let s = alaw_decode(code);
            assert_eq!(alaw_encode(s), code, "code {code:#04x} -> {s}");
        }
        assert_eq!(alaw_decode(0xD5), 8);
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xAA), 32_256);
    }

    #[test]
    fn quantisation_error_is_bounded() {
        for s in (-32_768i32..=32_767).step_by(97) {
            let s = s as i16;
            let mu = mulaw_decode(mulaw_encode(s)) as i32;
            let a = alaw_decode(alaw_encode(s)) as i32;
            // Half a step of the segment: about 1/32 of the magnitude, never below 8.
            let bound = (s as i32).abs() / 16 + 16;
            assert!((mu - s as i32).abs() <= bound, "mu {s} -> {mu}");
            assert!((a - s as i32).abs() <= bound, "a {s} -> {a}");
        }
    }
}
