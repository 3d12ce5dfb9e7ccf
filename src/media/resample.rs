use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

#[derive(Debug, thiserror::Error)]
#[error("resampling {from} Hz -> {to} Hz: {reason}")]
pub struct ResampleError {
    pub from: u32,
    pub to: u32,
    pub reason: String,
}

/// Resamples a whole mono clip (FFT resampler; output length = ceil(len * to / from),
/// startup delay trimmed).
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleError> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let err = |reason: String| ResampleError { from, to, reason };
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| err(e.to_string()))?;
    let mut r =
        Fft::<f32>::new(from as usize, to as usize, 1024, 1, FixedSync::Input).map_err(|e| err(e.to_string()))?;
    let out = r.process_all(&input, samples.len(), None).map_err(|e| err(e.to_string()))?;
    Ok(out.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, n: usize) -> Vec<f32> {
        (0..n).map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin() * 0.5).collect()
    }

    #[test]
    fn lengths_follow_the_ratio_and_tone_survives() {
        for (from, to) in [(8000, 16000), (48000, 16000), (22050, 16000), (44100, 8000), (16000, 24000)] {
            let input = tone(from, 440.0, from as usize);
            let out = resample(&input, from, to).unwrap();
            assert_eq!(out.len(), to as usize, "{from}->{to}");
            let rms = (out[to as usize / 4..].iter().map(|x| x * x).sum::<f32>() / (out.len() * 3 / 4) as f32).sqrt();
            assert!((rms - 0.5 / 2f32.sqrt()).abs() < 0.02, "{from}->{to} rms {rms}");
        }
    }
}
