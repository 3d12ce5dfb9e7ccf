//! Files a simulated call leaves behind: NAME.timeline.json and NAME.wav (stereo:
//! left caller as the bot heard it, right bot), and with `--svg` NAME.svg.

use std::path::Path;

use super::{SimError, SimOutput};

pub fn write_outputs(dir: &Path, name: &str, out: &SimOutput) -> Result<(), SimError> {
    let io = |path: &Path, e: std::io::Error| SimError::Io { path: path.into(), source: e };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let timeline = dir.join(format!("{name}.timeline.json"));
    let json = serde_json::to_string_pretty(&out.events).expect("events serialize");
    std::fs::write(&timeline, json).map_err(|e| io(&timeline, e))?;
    let wav = dir.join(format!("{name}.wav"));
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: out.rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let hound_err = |e: hound::Error| io(&wav, std::io::Error::other(e.to_string()));
    let mut w = hound::WavWriter::create(&wav, spec).map_err(hound_err)?;
    let pcm = |s: f32| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
    for (c, b) in out.caller_track.iter().zip(&out.bot_track) {
        w.write_sample(pcm(*c)).map_err(hound_err)?;
        w.write_sample(pcm(*b)).map_err(hound_err)?;
    }
    w.finalize().map_err(hound_err)
}

/// NAME.svg: the call's picture (see [`super::timeline_svg`]).
pub fn write_svg(dir: &Path, name: &str, title: &str, out: &SimOutput) -> Result<std::path::PathBuf, SimError> {
    let path = dir.join(format!("{name}.svg"));
    let events: Vec<serde_json::Value> = out.events.iter().filter_map(|e| serde_json::to_value(e).ok()).collect();
    let tracks = super::Tracks { caller: &out.caller_track, bot: &out.bot_track, rate: out.rate };
    std::fs::write(&path, super::timeline_svg(title, Some(tracks), &events))
        .map_err(|source| SimError::Io { path: path.clone(), source })?;
    Ok(path)
}
