//! docker-compose.yml checked statically (there is no Docker engine here):
//! every container runs a real `hookline` subcommand, and the environment it
//! sets is a configuration the binary accepts (unknown keys are refused by
//! the config loader, so a typo in a variable name fails here).

use serde_yaml::Value;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What a required `${VAR:?message}` stands for in these checks: long enough
/// for any secret, and the base64 of 32 bytes, as an encryption key must be.
const REQUIRED_VALUE: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// `${VAR:-default}` → default (recursively), the way compose expands an
/// unset variable; `${VAR:?message}` → [`REQUIRED_VALUE`], as if set in `.env`.
fn expand(value: &str) -> String {
    let mut s = value.to_string();
    while let Some(start) = s.rfind("${") {
        let Some(len) = s[start..].find('}') else {
            break;
        };
        let inner = &s[start + 2..start + len];
        let replacement = if inner.contains(":?") {
            REQUIRED_VALUE.to_string()
        } else {
            inner
                .split_once(":-")
                .map(|(_, d)| d)
                .unwrap_or("")
                .to_string()
        };
        s.replace_range(start..start + len + 1, &replacement);
    }
    s
}

#[test]
fn every_service_runs_a_real_subcommand_with_a_valid_config() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let mut doc = doc;
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().unwrap();
    let mut checked = 0;
    for (name, service) in services {
        let uses_hookline = service["image"].as_str() == Some("hookline:local");
        if !uses_hookline {
            continue;
        }
        let command: Vec<String> = service["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name:?} has no command list"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let help = Command::new(env!("CARGO_BIN_EXE_hookline"))
            .args(&command)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            help.status.success(),
            "{name:?}: `hookline {command:?}` is not a subcommand"
        );

        let mut check = Command::new(env!("CARGO_BIN_EXE_hookline"));
        check
            .arg("config")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (key, value) in service["environment"].as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            if let Some(value) = value.as_str() {
                check.env(key, expand(value));
            }
        }
        let out = check.output().unwrap();
        assert!(
            out.status.success(),
            "{name:?}: its environment is refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    assert!(
        checked >= 6,
        "expected migrate + 5 services, checked {checked}"
    );
}

#[test]
fn env_example_names_only_known_variables() {
    let text = std::fs::read_to_string(root().join(".env.example")).unwrap();
    let mut check = Command::new(env!("CARGO_BIN_EXE_hookline"));
    check.arg("config").env_clear();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (key, value) = line.split_once('=').expect("KEY=value lines");
        check.env(key.trim(), value.trim());
    }
    let out = check.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_bad_key_fails_with_one_line_naming_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_hookline"))
        .arg("config")
        .env("HOOKLINE__EDGE__RATE_LIMIT_PER_SECOND", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rate_limit_per_second"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// Environment variables of the hookline containers that carry a secret.
const SECRET_VARIABLES: &[&str] = &[
    "HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN",
    "HOOKLINE__WEBHOOK_OUT__ENCRYPTION_KEYS",
    "HOOKLINE__EDGE__FINGERPRINT_SECRET",
    "CRM_WEBHOOK_KEY",
    "CRM_SHARED_SECRET",
    "WEBHOOK_API_KEY",
    "WEBHOOK_SHARED_SECRET",
];

#[test]
fn secrets_have_no_defaults_and_only_public_roles_listen_on_every_interface() {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    let mut doc: Value = serde_yaml::from_str(&text).unwrap();
    doc.apply_merge().unwrap();
    let services = doc["services"].as_mapping().unwrap();
    let env = services[&Value::from("webhook-out")]["environment"]
        .as_mapping()
        .unwrap();
    for name in SECRET_VARIABLES {
        let value = env[&Value::from(*name)].as_str().unwrap_or_default();
        let required = value.starts_with("${") && value.contains(":?") && !value.contains(":-");
        assert!(
            required,
            "{name} must be ${{VAR:?…}} with no default: {value:?}"
        );
    }
    assert!(
        !text.to_ascii_uppercase().contains("ALLOW_PRIVATE_NETWORKS"),
        "compose must not open the SSRF guard"
    );
    let published = |service: &str| -> Vec<String> {
        services[&Value::from(service)]["ports"]
            .as_sequence()
            .map(|ports| {
                ports
                    .iter()
                    .map(|p| p.as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (service, port) in [("edge", "8080"), ("ingest", "8082")] {
        assert_eq!(published(service), [format!("{port}:{port}")], "{service}");
    }
    for (name, service) in services {
        let public = ["edge", "ingest"].contains(&name.as_str().unwrap());
        for port in published(name.as_str().unwrap()) {
            assert!(
                public || port.starts_with("127.0.0.1:"),
                "{name:?} publishes {port} beyond this host: {service:?}"
            );
        }
    }
}

#[test]
fn env_example_holds_no_usable_secret() {
    let text = std::fs::read_to_string(root().join(".env.example")).unwrap();
    let mut seen = 0;
    for line in text.lines().map(str::trim) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if line.starts_with('#') {
            continue;
        }
        let secret = ["KEY", "SECRET", "TOKEN", "KEYS"]
            .iter()
            .any(|s| key.ends_with(s));
        if secret {
            seen += 1;
            assert!(value.trim().is_empty(), "{key} has a value in .env.example");
        }
    }
    assert!(seen >= 7, "expected every secret listed, saw {seen}");
}
