//! Every caller script in audio-fixtures/calls reaches its expected outcome with the
//! real models, on a clean line and with line echo; a recording replays end to end.

use std::sync::Mutex;

use voxline::call::Event;
use voxline::sim::{self, CallerScript, ChannelOptions, CostModel, Expect, SimEngines};

use crate::common::{fixtures, models};

/// One set of engines for the file's tests (Whisper state is not shared across threads).
/// Engine time is charged at fixed costs near this machine's measured ones, so the
/// outcome never depends on how busy the machine is (latency is the benches' job).
fn engines() -> &'static Mutex<SimEngines> {
    static ENGINES: std::sync::OnceLock<Mutex<SimEngines>> = std::sync::OnceLock::new();
    ENGINES.get_or_init(|| {
        let mut e = SimEngines::load(&models(), 8000).unwrap();
        e.cost = CostModel::Fixed { asr_ms: 350, tts_sentence_ms: 150 };
        Mutex::new(e)
    })
}

fn scripts() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(fixtures().join("calls"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    assert!(v.len() >= 20, "caller scripts missing");
    v
}

fn simulate(path: &std::path::Path, channel: ChannelOptions) -> sim::SimOutput {
    let script = CallerScript::load(path).unwrap();
    let dialogue = sim::load_dialogue(&models_dir(), &sim::prompts_dir(), &script.flow, &script.context).unwrap();
    let mut engines = engines().lock().unwrap();
    let turns = sim::load_turns(&script, engines.rate()).unwrap();
    sim::run_call(&mut engines, dialogue, turns, channel, false, &script.expect).unwrap()
}

#[test]
fn every_caller_script_reaches_its_expected_outcome() {
    for path in scripts() {
        let out = simulate(&path, ChannelOptions::default());
        let s = &out.summary;
        assert!(s.expect_ok, "{}: {:?}\n{}", path.display(), s.expect_failures, conversation(&out));
        assert_eq!(s.false_barge_ins, 0, "{}", path.display());
        let name = path.file_stem().unwrap().to_string_lossy();
        if name.contains("barge_in") {
            assert_eq!(s.barge_in_reaction_ms.len(), 1, "{name}");
            assert!(
                out.events.iter().any(|e| matches!(e.event, Event::PlayoutStop { reason: "barge_in", .. })),
                "{name}"
            );
        }
        if name.contains("backchannel") {
            assert!(s.backchannels >= 1, "{name}");
            assert!(
                !out.events.iter().any(|e| matches!(e.event, Event::PlayoutStop { reason: "barge_in", .. })),
                "{name}: a backchannel stopped the bot"
            );
        }
    }
}

#[test]
fn line_echo_does_not_make_the_bot_interrupt_itself() {
    for name in ["cod_confirm", "cod_handoff"] {
        let path = fixtures().join("calls").join(format!("{name}.toml"));
        let out = simulate(&path, ChannelOptions { echo: Some((-20.0, 60)), ..Default::default() });
        assert!(out.summary.expect_ok, "{name}: {:?}", out.summary.expect_failures);
        assert!(
            out.summary.barge_in_reaction_ms.is_empty(),
            "{name}: self-interruption {:?}",
            out.summary.barge_in_reaction_ms
        );
        assert_eq!(out.summary.false_barge_ins, 0);
    }
}

#[test]
fn a_lossy_alaw_line_with_noise_still_confirms() {
    let path = fixtures().join("calls/cod_confirm.toml");
    let channel =
        ChannelOptions { codec: sim::CodecChoice::Pcma, loss_pct: 3.0, noise_snr_db: Some(25.0), ..Default::default() };
    let out = simulate(&path, channel);
    assert!(out.summary.expect_ok, "{:?}", out.summary.expect_failures);
}

#[test]
fn replay_of_a_fixed_recording_runs_the_flow() {
    // The callee answers "hello?" and then, without waiting for the bot, says no.
    let rate = 8000;
    let mut audio = sim::load_audio(&fixtures().join("8k/hello.wav"), rate).unwrap();
    audio.resize(audio.len() + rate as usize * 9, 0.0);
    audio.extend(sim::load_audio(&fixtures().join("8k/no_cancel.wav"), rate).unwrap());
    let dialogue =
        sim::load_dialogue(&models_dir(), &sim::prompts_dir(), "cod", &fixtures().join("calls/ctx_cod.json")).unwrap();
    let mut engines = engines().lock().unwrap();
    let out = sim::run_call(
        &mut engines,
        dialogue,
        sim::Caller::Recording(audio),
        ChannelOptions::default(),
        false,
        &Expect::default(),
    )
    .unwrap();
    assert_eq!(out.summary.outcome, Some("cancelled"));
    assert_eq!(out.caller_track.len(), out.bot_track.len());
    let dir = std::env::temp_dir().join(format!("voxline-replay-{}", std::process::id()));
    sim::write_outputs(&dir, "rec", &out).unwrap();
    let timeline: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("rec.timeline.json")).unwrap()).unwrap();
    assert!(timeline.as_array().unwrap().iter().any(|e| e["type"] == "outcome" && e["code"] == "cancelled"));
    let wav = hound::WavReader::open(dir.join("rec.wav")).unwrap();
    assert_eq!((wav.spec().channels, wav.spec().sample_rate), (2, 8000));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn bad_scripts_and_contexts_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("voxline-badscript-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("a.toml"),
        "flow = \"cod\"\ncontext = \"ctx.json\"\n[[turn]]\naudio = \"x.wav\"\nafter = \"sometime\"\n",
    )
    .unwrap();
    let err = CallerScript::load(&dir.join("a.toml")).unwrap_err().to_string();
    assert!(err.contains("a.toml"), "{err}");
    std::fs::write(dir.join("ctx.json"), "{not json").unwrap();
    let err =
        sim::load_dialogue(&models_dir(), &sim::prompts_dir(), "cod", &dir.join("ctx.json")).err().unwrap().to_string();
    assert!(err.contains("ctx.json"), "{err}");
    assert!(sim::load_dialogue(
        &models_dir(),
        &sim::prompts_dir(),
        "no_such_flow",
        &fixtures().join("calls/ctx_cod.json")
    )
    .is_err());
    // The refund flow needs `return.*`, which the COD context lacks: named, not a panic.
    let err =
        sim::load_dialogue(&models_dir(), &sim::prompts_dir(), "refund_status", &fixtures().join("calls/ctx_cod.json"))
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("return.refund_amount"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// What was heard and said, for failure messages.
fn conversation(out: &sim::SimOutput) -> String {
    let line = |e: &voxline::call::TimedEvent| match &e.event {
        Event::AsrFinal { text } => Some(format!("{:>6} ms caller: {text}", e.at_ms)),
        Event::Intent { name, confidence, .. } => Some(format!("{:>6} ms intent: {name} {confidence:.2}", e.at_ms)),
        Event::BotSay { text } => Some(format!("{:>6} ms bot: {text}", e.at_ms)),
        _ => None,
    };
    out.events.iter().filter_map(line).collect::<Vec<_>>().join("\n")
}

fn models_dir() -> voxline::models::ModelDir {
    voxline::models::ModelDir::from_env()
}
