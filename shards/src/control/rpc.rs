//! JSON-RPC 2.0 dispatch and the command table.
//!
//! A command is a name as Kamailio's `kamcmd` knows it (`core.uptime`,
//! `stats.get_statistics`), a one-line help, and a function of the
//! [`Control`] context and the positional parameters. Registering one is a
//! single call to [`Commands::add`], so each module adds its own
//! (`dispatcher.list`, `ul.dump`, ...) where it is set up.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Control;

/// A failed command: a JSON-RPC error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl RpcError {
    /// The JSON-RPC "invalid params" error.
    pub fn params(message: impl Into<String>) -> RpcError {
        RpcError {
            code: -32602,
            message: message.into(),
        }
    }

    /// A command that ran and failed (Kamailio answers these with 500).
    pub fn failed(message: impl Into<String>) -> RpcError {
        RpcError {
            code: 500,
            message: message.into(),
        }
    }
}

/// What a command returns.
pub type RpcResult = Result<Value, RpcError>;

type Handler = Box<dyn Fn(&Control, &[Value]) -> RpcResult + Send + Sync>;

/// The command table.
#[derive(Default)]
pub struct Commands {
    table: BTreeMap<String, (String, Handler)>,
}

impl Commands {
    /// Registers `name`; a second registration of a name replaces the first.
    pub fn add(
        &mut self,
        name: &str,
        help: &str,
        f: impl Fn(&Control, &[Value]) -> RpcResult + Send + Sync + 'static,
    ) {
        self.table
            .insert(name.to_string(), (help.to_string(), Box::new(f)));
    }

    /// Command names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.table.keys().cloned().collect()
    }

    pub fn help(&self, name: &str) -> Option<&str> {
        self.table.get(name).map(|(h, _)| h.as_str())
    }

    fn call(&self, ctl: &Control, name: &str, params: &[Value]) -> RpcResult {
        match self.table.get(name) {
            Some((_, f)) => f(ctl, params),
            None => Err(RpcError {
                code: -32601,
                message: format!("Method Not Found: {name}"),
            }),
        }
    }
}

/// Handles one JSON-RPC request text (a single request or a batch) and
/// returns the response text; None for a notification.
pub fn handle_text(ctl: &Control, text: &str) -> Option<String> {
    let req: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Some(error(Value::Null, -32700, &format!("Parse error: {e}")).to_string())
        }
    };
    match req {
        Value::Array(batch) if !batch.is_empty() => {
            let out: Vec<Value> = batch
                .into_iter()
                .filter_map(|r| handle_one(ctl, r))
                .collect();
            (!out.is_empty()).then(|| Value::Array(out).to_string())
        }
        other => handle_one(ctl, other).map(|v| v.to_string()),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": id})
}

fn handle_one(ctl: &Control, req: Value) -> Option<Value> {
    let Value::Object(obj) = req else {
        return Some(error(Value::Null, -32600, "Invalid Request"));
    };
    let id = obj.get("id").cloned();
    let reply_id = id.clone().unwrap_or(Value::Null);
    let Some(method) = obj.get("method").and_then(Value::as_str) else {
        return Some(error(reply_id, -32600, "Invalid Request: no method"));
    };
    let params = match obj.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Some(error(
                reply_id,
                -32602,
                "params must be an array (positional, as kamcmd sends them)",
            ))
        }
    };
    let result = ctl.commands.call(ctl, method, &params);
    id.as_ref()?;
    Some(match result {
        Ok(v) => json!({"jsonrpc": "2.0", "result": v, "id": reply_id}),
        Err(e) => error(reply_id, e.code, &e.message),
    })
}

/// The `n`th parameter as a string (numbers are accepted and printed).
pub fn str_param(params: &[Value], n: usize) -> Option<String> {
    match params.get(n)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(x) => Some(x.to_string()),
        _ => None,
    }
}
