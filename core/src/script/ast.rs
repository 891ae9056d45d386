//! The syntax tree of a kamailio.cfg file, as written (names unresolved).
//! Positions are offsets into the preprocessed text; the source map turns
//! them into original `file:line:column`.

/// A whole config file.
#[derive(Debug, Clone, Default)]
pub struct CfgFile {
    pub items: Vec<TopItem>,
}

/// A value on the right of a global parameter or in a modparam.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Str(String),
    /// Anything else, rebuilt from its tokens (`udp:127.0.0.1:5060`,
    /// `LOG_LOCAL0`, `yes`).
    Raw(String),
}

impl ParamValue {
    /// The value as text (`Int` printed in decimal).
    pub fn text(&self) -> String {
        match self {
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Str(s) | ParamValue::Raw(s) => s.clone(),
        }
    }

    /// The value as an integer, with `yes/on/true` = 1 and `no/off/false` = 0.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            ParamValue::Str(s) | ParamValue::Raw(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" | "enable" => Some(1),
                "no" | "off" | "false" | "disable" => Some(0),
                other => other.parse().ok(),
            },
        }
    }
}

/// A `listen=` value with its options.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenItem {
    pub addr: String,
    pub advertise: Option<String>,
    pub name: Option<String>,
}

/// The kind of a route block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKind {
    Request,
    Reply,
    OnReply,
    Failure,
    Branch,
    Event,
    OnSend,
}

impl RouteKind {
    pub fn keyword(self) -> &'static str {
        match self {
            RouteKind::Request => "request_route",
            RouteKind::Reply => "reply_route",
            RouteKind::OnReply => "onreply_route",
            RouteKind::Failure => "failure_route",
            RouteKind::Branch => "branch_route",
            RouteKind::Event => "event_route",
            RouteKind::OnSend => "onsend_route",
        }
    }
}

#[derive(Debug, Clone)]
pub enum TopItem {
    /// `name = value` for a core parameter.
    Param {
        name: String,
        value: ParamValue,
        at: usize,
    },
    Listen {
        item: ListenItem,
        at: usize,
    },
    LoadModule {
        path: String,
        at: usize,
    },
    ModParam {
        modules: String,
        param: String,
        value: ParamValue,
        at: usize,
    },
    /// `group.name = value [desc "..."]` (cfg framework variables).
    CfgVar {
        name: String,
        value: ParamValue,
        at: usize,
    },
    /// `cfgengine "lua"` and similar one-word settings with a string.
    CfgEngine {
        name: String,
        at: usize,
    },
    /// A route block. `name` is None for the unnamed main blocks.
    Route {
        kind: RouteKind,
        name: Option<String>,
        body: Vec<Stmt>,
        at: usize,
    },
}

#[derive(Debug, Clone)]
pub enum Stmt {
    Expr(Expr),
    If {
        cond: Expr,
        then: Vec<Stmt>,
        els: Vec<Stmt>,
        at: usize,
    },
    Switch {
        subject: Expr,
        cases: Vec<Case>,
        at: usize,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
        at: usize,
    },
    Return {
        value: Option<Expr>,
        at: usize,
    },
    Exit {
        at: usize,
    },
    Drop {
        at: usize,
    },
    Break {
        at: usize,
    },
    Assign {
        pv: String,
        pv_at: usize,
        add: bool,
        value: Expr,
        at: usize,
    },
    Block(Vec<Stmt>),
}

/// One `case` (or `default` when `label` is None) of a switch.
#[derive(Debug, Clone)]
pub struct Case {
    pub label: Option<Expr>,
    pub body: Vec<Stmt>,
    pub at: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
    NoMatch,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitOr,
    BitAnd,
    BitXor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
    BitNot,
    /// `defined $x`
    Defined,
    /// `strlen(x)` / `strempty(x)` as operators.
    StrLen,
    StrEmpty,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Int(i64, usize),
    Str(String, usize),
    Ip(String, usize),
    Pv(String, usize),
    /// A bare word: core keyword (`method`, `uri`, `src_ip`, `myself`, ...).
    Word(String, usize),
    Call {
        name: String,
        args: Vec<Expr>,
        at: usize,
    },
    Unary(UnOp, Box<Expr>, usize),
    Binary(BinOp, Box<Expr>, Box<Expr>, usize),
}

impl Expr {
    pub fn at(&self) -> usize {
        match self {
            Expr::Int(_, a)
            | Expr::Str(_, a)
            | Expr::Ip(_, a)
            | Expr::Pv(_, a)
            | Expr::Word(_, a)
            | Expr::Unary(_, _, a)
            | Expr::Binary(_, _, _, a) => *a,
            Expr::Call { at, .. } => *at,
        }
    }
}
