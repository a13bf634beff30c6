//! deploy/ for a district cluster (issue 19, item 7): the Kubernetes
//! manifests and the PostgreSQL compose file parse as YAML and carry the
//! properties the operations guide promises (3 replicas, probes on
//! /healthz, a PodDisruptionBudget, a NetworkPolicy that only lets the
//! ingress controller in and only PostgreSQL, DNS and HTTPS out, non-root,
//! read-only root filesystem, no privilege escalation, resources, the
//! configuration from a ConfigMap and the database URL from a Secret).
//!
//! No YAML crate is in the workspace, so the files are parsed by PyYAML
//! (`python3 -c 'import yaml'`, Debian python3-yaml; .ci/run installs it),
//! an independent parser, and checked here as JSON. Without it the tests
//! skip loudly; under CI=true they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// Every YAML document of `rel` as JSON, or `None` after a SKIPPED line.
fn yaml_documents(test: &str, rel: &str) -> Option<Vec<Value>> {
    let script = "import json, sys, yaml\n\
                  docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
                  print(json.dumps(docs))";
    let output = Command::new("python3").arg("-c").arg(script).arg(repo_file(rel)).output();
    match output {
        Ok(out) if out.status.success() => {
            Some(serde_json::from_slice(&out.stdout).expect("PyYAML's JSON"))
        }
        Ok(out) if String::from_utf8_lossy(&out.stderr).contains("No module named 'yaml'") => {
            skip(test)
        }
        Ok(out) => panic!("{rel} is not valid YAML: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) => skip(test),
    }
}

fn skip(test: &str) -> Option<Vec<Value>> {
    let message = format!(
        "SKIPPED: {test}: needs python3 with PyYAML (Debian: apt-get install python3-yaml)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message} -- required under CI=true");
    }
    eprintln!("!! {message}");
    None
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

#[test]
fn kubernetes_manifests_carry_the_cluster_properties() {
    let test = "kubernetes_manifests_carry_the_cluster_properties";
    let Some(docs) = yaml_documents(test, "deploy/kubernetes/stadtbote.yaml") else { return };
    let app = serde_json::json!({ "app.kubernetes.io/name": "stadtbote" });

    // Deployment: 3 replicas, one node at a time.
    let deployment = kind(&docs, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 3);
    assert_eq!(spec["selector"]["matchLabels"], app);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 1);
    let pod = &spec["template"]["spec"];
    assert_eq!(spec["template"]["metadata"]["labels"], app);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_ne!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let port = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "http")
        .map(|p| p["containerPort"].clone())
        .unwrap();
    assert_eq!(port, 8470);
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{probe}");
    }
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for what in ["requests", "limits"] {
        assert!(c["resources"][what]["cpu"].is_string(), "{what}.cpu");
        assert!(c["resources"][what]["memory"].is_string(), "{what}.memory");
    }
    // The database URL from a Secret, never a literal.
    let env = c["env"].as_array().unwrap();
    let url = env.iter().find(|e| e["name"] == "STADTBOTE_DATABASE_URL").unwrap();
    assert!(url.get("value").is_none(), "the database URL must not be a literal");
    assert!(url["valueFrom"]["secretKeyRef"]["name"].is_string());
    assert!(!env.iter().any(|e| e["value"].as_str().is_some_and(|v| v.contains("postgres://"))));

    // The configuration from a ConfigMap, mounted and named by --config.
    let config = kind(&docs, "ConfigMap");
    let toml = config["data"]["stadtbote.toml"].as_str().unwrap();
    assert!(toml.contains("store = \"postgres\""));
    assert!(!toml.contains("database_url"), "the URL belongs in the Secret");
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"] == config["metadata"]["name"])
        .expect("the ConfigMap is a volume");
    let mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("and mounted");
    assert_eq!(mount["readOnly"], true);
    let args: Vec<&str> = c["args"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let config_path = format!("{}/stadtbote.toml", mount["mountPath"].as_str().unwrap());
    assert_eq!(args, ["--config", config_path.as_str()]);

    // Service to the app port.
    let service = kind(&docs, "Service");
    assert_eq!(service["spec"]["selector"], app);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");

    // PodDisruptionBudget: one node away at most.
    let pdb = kind(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], app);

    // NetworkPolicy: in only from the ingress controller to 8470; out only
    // to PostgreSQL (5432), DNS (53) and HTTPS (443, the push services).
    let policy = kind(&docs, "NetworkPolicy");
    let spec = &policy["spec"];
    assert_eq!(spec["podSelector"]["matchLabels"], app);
    assert_eq!(spec["policyTypes"], serde_json::json!(["Ingress", "Egress"]));
    let ingress = spec["ingress"].as_array().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(ingress[0]["ports"], serde_json::json!([{ "protocol": "TCP", "port": 8470 }]));
    let from = ingress[0]["from"].as_array().unwrap();
    assert_eq!(from.len(), 1);
    assert!(from[0]["namespaceSelector"]["matchLabels"].is_object(), "ingress namespace");
    assert!(from[0]["podSelector"]["matchLabels"].is_object(), "ingress controller pods");
    assert!(from[0].get("ipBlock").is_none());
    let mut egress_ports: Vec<i64> = spec["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            assert!(rule["to"].as_array().is_some_and(|to| !to.is_empty()), "egress to anything");
            rule["ports"].as_array().unwrap().iter().map(|p| p["port"].as_i64().unwrap())
        })
        .collect();
    egress_ports.sort_unstable();
    egress_ports.dedup();
    assert_eq!(egress_ports, [53, 443, 5432]);
}

#[test]
fn compose_file_runs_the_server_on_postgresql_hardened() {
    let test = "compose_file_runs_the_server_on_postgresql_hardened";
    let Some(docs) = yaml_documents(test, "deploy/docker/compose.postgres.yaml") else { return };
    assert_eq!(docs.len(), 1);
    let services = &docs[0]["services"];
    let pg = &services["postgres"];
    assert!(pg["image"].as_str().unwrap().starts_with("postgres:"));
    assert!(pg.get("ports").is_none(), "PostgreSQL is not published");
    assert!(pg["healthcheck"]["test"].is_array());
    let server = &services["stadtbote"];
    assert_eq!(server["environment"]["STADTBOTE_STORE"], "postgres");
    assert_eq!(server["depends_on"]["postgres"]["condition"], "service_healthy");
    assert_eq!(server["read_only"], true);
    assert_eq!(server["cap_drop"], serde_json::json!(["ALL"]));
    assert_eq!(server["security_opt"], serde_json::json!(["no-new-privileges:true"]));
    assert!(!server["user"].as_str().unwrap().starts_with("0"));
    let ports: Vec<&str> =
        server["ports"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(ports.iter().all(|p| p.starts_with("127.0.0.1:")), "published on loopback only");
    // The password comes from a secret file, not the compose file.
    let text = std::fs::read_to_string(repo_file("deploy/docker/compose.postgres.yaml")).unwrap();
    assert!(!text.contains("POSTGRES_PASSWORD:"), "no literal password");
    assert!(pg["environment"]["POSTGRES_PASSWORD_FILE"].is_string());
    assert_eq!(docs[0]["networks"]["db"]["internal"], true);
}
