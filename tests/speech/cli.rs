use std::process::Command;

use voxline::engines::SileroModel;
use voxline::models::{ModelDir, ModelError};

use crate::common::{fixtures, models};

fn voxline() -> Command {
    voxline_with(&models().root)
}

fn voxline_with(models: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxline"));
    cmd.arg("--models").arg(models);
    cmd
}

#[test]
fn transcribe_prints_the_words_on_one_line() {
    for band in ["16k", "8k"] {
        let out = voxline().arg("transcribe").arg(fixtures().join(band).join("wrong_number.wav")).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.to_lowercase().contains("wrong number"), "{band}: {text}");
    }
}

#[test]
fn transcribe_rejects_bad_input_with_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("voxline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.wav");
    std::fs::write(&junk, b"this is not a wav file at all").unwrap();
    let out = voxline().arg("transcribe").arg(&junk).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a readable WAV"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let float = dir.join("float.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(&float, spec).unwrap();
    w.write_sample(0.1f32).unwrap();
    w.finalize().unwrap();
    let out = voxline().arg("transcribe").arg(&float).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported WAV format"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn missing_models_name_the_file_and_the_fix() {
    let empty = ModelDir::new(std::env::temp_dir().join("voxline-no-models"));
    let err = SileroModel::load(&empty).err().expect("must fail");
    let msg = err.to_string();
    assert!(msg.contains("libonnxruntime.so.1.32.0") && msg.contains("voxline models fetch"), "{msg}");
    assert!(matches!(empty.require("whisper-tiny.en"), Err(ModelError::Missing { .. })));

    let out = voxline_with("/nonexistent-models".as_ref())
        .arg("transcribe")
        .arg(fixtures().join("16k/short_yes.wav"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ggml-tiny.en.bin") && stderr.contains("voxline models fetch"), "{stderr}");
}

#[test]
fn corrupt_model_file_is_a_load_error_naming_it() {
    let dir = std::env::temp_dir().join(format!("voxline-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ggml-tiny.en.bin"), b"lmggjunk").unwrap();
    let out = voxline_with(&dir).arg("transcribe").arg(fixtures().join("16k/short_yes.wav")).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ggml-tiny.en.bin") && stderr.contains("corrupt"), "{stderr}");
    let out = voxline_with(&dir).args(["models", "verify"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn intent_prints_intent_confidence_and_slots() {
    let out = voxline()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "intent",
            "--flow",
            "delivery_retry",
            "--today",
            "2026-11-26",
            "haan ji, deliver it next monday after 6 pm",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["intent"], "reschedule");
    assert!(v["confidence"].as_f64().unwrap() > 0.4);
    assert_eq!(v["slots"]["date"], "2026-11-30");
    assert_eq!(v["slots"]["time_window"], "18:00-21:00");
    let out = voxline()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "intent",
            "--flow",
            "cod",
            "--now",
            "2026-11-26T11:05:00+05:30",
            "I'm in a meeting, call me back in an hour",
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["intent"].as_str(), v["slots"]["callback_time"].as_str()),
        (Some("callback_later"), Some("2026-11-26T12:15:00+05:30")),
        "{v}"
    );
    let out = voxline().args(["intent", "--flow", "nope", "yes"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown flow"));
}

fn intent(args: &[&str]) -> (serde_json::Value, String) {
    let out = voxline().current_dir(env!("CARGO_MANIFEST_DIR")).arg("intent").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn intent_uses_the_state_and_needs_the_customers_clock() {
    let (v, _) = intent(&["--flow", "cod", "--state", "pick_date", "--today", "2026-11-26", "the 5th"]);
    assert_eq!(v["slots"]["date"], "2026-12-05");
    let (v, _) = intent(&["--flow", "cod", "--state", "pick_date", "--today", "2026-11-26", "5th"]);
    assert_eq!(v["slots"]["date"], "2026-12-05", "pick_date asks for a day: {v}");
    let (v, _) = intent(&["--flow", "cod", "--state", "confirm_order", "--today", "2026-11-26", "5th"]);
    assert!(v["slots"].get("date").is_none(), "confirm_order asks no day: {v}");
    let (v, _) = intent(&["--flow", "cod", "--state", "pick_date", "--today", "2026-11-26", "hold on a second"]);
    assert!(v["slots"].get("date").is_none(), "{v}");
    let (v, _) = intent(&["--flow", "cod", "yes"]);
    assert_eq!(
        (v["state"].as_str(), v["step"]["next"].as_str()),
        (Some("confirm_order"), Some("verify_address")),
        "{v}"
    );
    let (v, _) = intent(&["--flow", "cod", "--state", "verify_address", "yes"]);
    assert_eq!(v["step"]["next"], "confirm_availability", "{v}");
    let (v, stderr) = intent(&["--flow", "cod", "call me back in an hour"]);
    assert_eq!(v["intent"], "callback_later");
    assert!(v["slots"].get("callback_time").is_none() && stderr.contains("--now"), "{v} {stderr}");
    let out = voxline().args(["intent", "--flow", "cod", "--state", "nowhere", "yes"]).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no state \"nowhere\""));
}

/// A binary run elsewhere reads that directory's models and prompts, never the tree it
/// was built in, and says where it looked.
#[test]
fn data_directories_come_from_the_flag_env_or_current_directory() {
    let empty = std::env::temp_dir().join(format!("voxline-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let bare = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_voxline"));
        cmd.current_dir(&empty).env_remove("VOXLINE_MODELS").env_remove("VOXLINE_PROMPTS");
        cmd
    };
    let out = bare().args(["flows", "check"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "found prompts outside the current directory");
    assert!(stderr.contains("prompts (in the current directory)"), "{stderr}");
    let prompts = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts");
    let out = bare().args(["flows", "check"]).env("VOXLINE_PROMPTS", &prompts).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = bare().arg("--prompts").arg(&prompts).args(["flows", "check"]).output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok cod"));
    std::fs::remove_dir_all(&empty).ok();
}

/// Arguments are checked before anything loads: a clear message and a non-zero exit.
#[test]
fn bad_arguments_are_refused_up_front() {
    let out_wav = std::env::temp_dir().join(format!("voxline-say-{}.wav", std::process::id()));
    let refused = |args: &[&str], says: &str| {
        let out = voxline().current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(says), "{args:?}: {stderr}");
    };
    let o = out_wav.to_str().unwrap();
    refused(&["say", "", "-o", o], "nothing to say");
    refused(&["say", " . ", "-o", o], "nothing to say");
    refused(&["say", "hello", "-o", o, "--rate", "0"], "0 is not in 8000..=48000");
    let script = "audio-fixtures/calls/cod_confirm.toml";
    refused(&["simulate", script, "--out", "out", "--loss", "150"], "loss 150 is outside 0..50");
    refused(&["simulate", script, "--out", "out", "--loss", "-1"], "outside");
    refused(&["simulate", script, "--out", "out", "--noise", "x"], "not a number");
    refused(&["simulate", script, "--out", "out", "--echo", "-20:5000"], "delay 5000 ms");
    assert!(!out_wav.exists(), "nothing was written");
    // A negative SNR needs no `=`.
    let out = voxline().args(["simulate", "nope.toml", "--out", "out", "--noise", "-5"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("unexpected argument") && stderr.contains("nope.toml"), "{stderr}");
}

#[test]
fn config_default_reads_back_and_check_names_bad_keys() {
    let dir = std::env::temp_dir().join(format!("voxline-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = voxline().args(["config", "default"]).output().unwrap();
    assert!(out.status.success());
    let default = String::from_utf8(out.stdout).unwrap();
    for key in [
        "[http]",
        "listen",
        "[storage]",
        "url",
        "[models]",
        "[prompts]",
        "auth_token",
        "[recording]",
        "max_calls",
        "drain_timeout",
    ] {
        assert!(default.contains(key), "{key} missing from the default");
    }
    std::fs::write(dir.join("voxline.toml"), &default).unwrap();
    let check = |env: &[(&str, &str)]| {
        let mut cmd = voxline();
        cmd.current_dir(&dir).args(["config", "check"]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = check(&[("VOXLINE_LIMITS__MAX_CALLS", "7")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ok voxline.toml"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("max_calls = 7"), "the override is in effect");
    std::fs::write(dir.join("voxline.toml"), "[http]\nlisten = \"127.0.0.1:8080\"\nlisen = \"x\"\n").unwrap();
    let out = check(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("line 3") && stderr.contains("lisen"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
