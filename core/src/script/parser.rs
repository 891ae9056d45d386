//! Parses tokens into the [`ast`](super::ast) of a kamailio.cfg file:
//! global parameters, `loadmodule`, `modparam`, route blocks, statements
//! and expressions with Kamailio's operator precedence (`src/core/cfg.y`:
//! `||` < `&&` < `|` < `&` < `^` < `== != =~ !~` < `< > <= >=` < `+ -` <
//! `* / %` < unary `! - ~`).
//!
//! Errors are collected; after one the parser skips to the end of the
//! statement (or item) and goes on, so a config shows all its mistakes.

use super::ast::*;
use super::diag::{Diagnostic, Diags};
use super::lexer::{Tok, Token};
use super::preproc::Source;

/// Parses a token stream (ending with `Tok::Eof`).
pub fn parse(tokens: &[Token], src: &Source, diags: &mut Diags) -> CfgFile {
    let mut p = Parser {
        toks: tokens,
        i: 0,
        src,
        diags,
    };
    let mut file = CfgFile::default();
    while !p.at_eof() {
        let start = p.i;
        match p.top_item() {
            Ok(Some(item)) => file.items.push(item),
            Ok(None) => {}
            Err(()) => p.recover_top(),
        }
        if p.i == start {
            p.i += 1;
        }
    }
    file
}

type PResult<T> = Result<T, ()>;

struct Parser<'a> {
    toks: &'a [Token],
    i: usize,
    src: &'a Source,
    diags: &'a mut Diags,
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].tok
    }
    fn peek_n(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }
    fn at(&self) -> usize {
        self.toks[self.i.min(self.toks.len() - 1)].at
    }
    fn at_eof(&self) -> bool {
        matches!(self.peek(), Tok::Eof)
    }
    fn bump(&mut self) -> &Token {
        let t = &self.toks[self.i.min(self.toks.len() - 1)];
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == word)
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn fail<T>(&mut self, expected: &str) -> PResult<T> {
        let found = self.peek().describe();
        self.diags.push(Diagnostic::expected(
            self.src.pos(self.at()),
            found,
            expected,
        ));
        Err(())
    }
    fn expect(&mut self, t: &Tok, expected: &str) -> PResult<()> {
        if self.eat(t) {
            Ok(())
        } else {
            self.fail(expected)
        }
    }
    fn line_of(&self, idx: usize) -> (u16, u32) {
        self.src
            .line_key(self.toks[idx.min(self.toks.len() - 1)].at)
    }

    /// Skips to just after the next `;` or past a balanced `}` block.
    fn recover_stmt(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                Tok::Eof => return,
                Tok::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// Skips to the start of the next line that begins an item.
    fn recover_top(&mut self) {
        let line = self.line_of(self.i);
        let mut depth = 0usize;
        while !self.at_eof() {
            match self.peek() {
                Tok::LBrace => depth += 1,
                Tok::RBrace => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            if depth == 0 && self.line_of(self.i) != line && matches!(self.peek(), Tok::Ident(_)) {
                return;
            }
            self.bump();
        }
    }

    fn top_item(&mut self) -> PResult<Option<TopItem>> {
        let at = self.at();
        let word = match self.peek() {
            Tok::Ident(w) => w.clone(),
            Tok::Semi => {
                self.bump();
                return Ok(None);
            }
            _ => return self.fail("a global parameter, `loadmodule`, `modparam` or a route block"),
        };
        match word.as_str() {
            "loadmodule" => {
                self.bump();
                let path = self.string_value("a quoted module name after `loadmodule`")?;
                self.eat(&Tok::Semi);
                Ok(Some(TopItem::LoadModule { path, at }))
            }
            "modparam" => self.modparam(at).map(Some),
            "cfgengine" => {
                self.bump();
                let name = self.string_value("a quoted engine name after `cfgengine`")?;
                self.eat(&Tok::Semi);
                Ok(Some(TopItem::CfgEngine { name, at }))
            }
            "request_route" | "route" | "reply_route" | "onreply_route" | "failure_route"
            | "branch_route" | "event_route" | "onsend_route"
                if matches!(self.peek_n(1), Tok::LBrace | Tok::LBracket) =>
            {
                self.route_block(&word, at).map(Some)
            }
            _ => self.param(word, at),
        }
    }

    fn string_value(&mut self, expected: &str) -> PResult<String> {
        match self.peek().clone() {
            Tok::Str(mut s) => {
                self.bump();
                while let Tok::Str(more) = self.peek().clone() {
                    s.push_str(&more);
                    self.bump();
                }
                Ok(s)
            }
            _ => self.fail(expected),
        }
    }

    fn modparam(&mut self, at: usize) -> PResult<TopItem> {
        self.bump();
        self.expect(&Tok::LParen, "`(` after `modparam`")?;
        let modules = self.string_value("a quoted module name")?;
        self.expect(&Tok::Comma, "`,` after the module name")?;
        let param = self.string_value("a quoted parameter name")?;
        self.expect(&Tok::Comma, "`,` after the parameter name")?;
        let value = match self.peek().clone() {
            Tok::Str(_) => ParamValue::Str(self.string_value("a value")?),
            Tok::Int(i) => {
                self.bump();
                ParamValue::Int(i)
            }
            Tok::Minus => {
                self.bump();
                match self.peek().clone() {
                    Tok::Int(i) => {
                        self.bump();
                        ParamValue::Int(-i)
                    }
                    _ => return self.fail("a number after `-`"),
                }
            }
            Tok::Ident(w) => {
                self.bump();
                ParamValue::Raw(w)
            }
            Tok::Ip(w) => {
                self.bump();
                ParamValue::Raw(w)
            }
            _ => return self.fail("a string or number as modparam value"),
        };
        self.expect(&Tok::RParen, "`)` closing `modparam`")?;
        self.eat(&Tok::Semi);
        Ok(TopItem::ModParam {
            modules,
            param,
            value,
            at,
        })
    }

    fn route_block(&mut self, word: &str, at: usize) -> PResult<TopItem> {
        self.bump();
        let kind = match word {
            "request_route" | "route" => RouteKind::Request,
            "reply_route" => RouteKind::Reply,
            "onreply_route" => RouteKind::OnReply,
            "failure_route" => RouteKind::Failure,
            "branch_route" => RouteKind::Branch,
            "event_route" => RouteKind::Event,
            _ => RouteKind::OnSend,
        };
        let mut name = None;
        if self.eat(&Tok::LBracket) {
            let mut n = String::new();
            while !matches!(self.peek(), Tok::RBracket | Tok::Eof | Tok::LBrace) {
                let t = self.bump();
                match &t.tok {
                    Tok::Str(s) => n.push_str(s),
                    _ => n.push_str(&t.raw),
                }
            }
            self.expect(&Tok::RBracket, "`]` closing the route name")?;
            if n.is_empty() {
                return self.fail("a route name inside `[]`");
            }
            name = Some(n);
        }
        let body = self.block()?;
        // `route[NAME]` is a sub-route; bare `route` is the request route.
        let kind = if word == "route" && name.is_some() {
            RouteKind::Request
        } else {
            kind
        };
        if name.as_deref() == Some("0") || name.as_deref() == Some("DEFAULT_RT") {
            name = None;
        }
        Ok(TopItem::Route {
            kind,
            name,
            body,
            at,
        })
    }

    /// `name = value...` up to the end of the line (or `;`).
    fn param(&mut self, name: String, at: usize) -> PResult<Option<TopItem>> {
        let line = self.line_of(self.i);
        self.bump();
        // cfg framework variable `group.var = value [desc "..."]`
        if self.peek() == &Tok::Dot {
            let mut full = name;
            while self.eat(&Tok::Dot) {
                match self.bump().tok.clone() {
                    Tok::Ident(s) => {
                        full.push('.');
                        full.push_str(&s);
                    }
                    _ => return self.fail("a cfg variable name after `.`"),
                }
            }
            self.expect(&Tok::Assign, "`=` after the cfg variable name")?;
            let value = self.rest_of_line(line, &["desc"])?;
            if self.is_ident("desc") {
                self.bump();
                let _ = self.string_value("a quoted description after `desc`")?;
            }
            self.eat(&Tok::Semi);
            return Ok(Some(TopItem::CfgVar {
                name: full,
                value,
                at,
            }));
        }
        if !self.eat(&Tok::Assign) {
            let found = format!("`{name}`");
            self.i -= 1;
            self.diags.push(Diagnostic::expected(
                self.src.pos(at),
                found,
                "a global parameter (`name=value`), `loadmodule`, `modparam` or a route block",
            ));
            return Err(());
        }
        if name == "listen" {
            let addr = self.rest_of_line(line, &["advertise", "name"])?.text();
            let mut item = ListenItem {
                addr,
                advertise: None,
                name: None,
            };
            loop {
                if self.is_ident("advertise") {
                    self.bump();
                    item.advertise = Some(self.rest_of_line(line, &["name"])?.text());
                } else if self.is_ident("name") && self.line_of(self.i) == line {
                    self.bump();
                    item.name = Some(self.string_value("a quoted socket name after `name`")?);
                } else {
                    break;
                }
            }
            self.eat(&Tok::Semi);
            return Ok(Some(TopItem::Listen { item, at }));
        }
        let value = self.rest_of_line(line, &[])?;
        self.eat(&Tok::Semi);
        Ok(Some(TopItem::Param { name, value, at }))
    }

    /// Tokens on the same original line, up to `;` or one of `stop` words.
    fn rest_of_line(&mut self, line: (u16, u32), stop: &[&str]) -> PResult<ParamValue> {
        let start = self.i;
        while !self.at_eof() && self.line_of(self.i) == line && self.peek() != &Tok::Semi {
            if let Tok::Ident(w) = self.peek() {
                if stop.contains(&w.as_str()) && self.i > start {
                    break;
                }
            }
            self.bump();
        }
        let toks = &self.toks[start..self.i];
        match toks {
            [] => self.fail("a value after `=`"),
            [Token {
                tok: Tok::Int(i), ..
            }] => Ok(ParamValue::Int(*i)),
            [Token {
                tok: Tok::Minus, ..
            }, Token {
                tok: Tok::Int(i), ..
            }] => Ok(ParamValue::Int(-*i)),
            _ if toks.iter().all(|t| matches!(t.tok, Tok::Str(_))) => Ok(ParamValue::Str(
                toks.iter()
                    .map(|t| match &t.tok {
                        Tok::Str(s) => s.as_str(),
                        _ => "",
                    })
                    .collect(),
            )),
            _ => Ok(ParamValue::Raw(
                toks.iter()
                    .map(|t| match &t.tok {
                        Tok::Str(s) => s.clone(),
                        Tok::Int(i) if !t.raw.chars().all(|c| c.is_ascii_digit()) => i.to_string(),
                        _ => t.raw.clone(),
                    })
                    .collect(),
            )),
        }
    }

    fn block(&mut self) -> PResult<Vec<Stmt>> {
        self.expect(&Tok::LBrace, "`{`")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Tok::RBrace => {
                    self.bump();
                    return Ok(out);
                }
                Tok::Eof => return self.fail("`}`"),
                _ => {}
            }
            let start = self.i;
            match self.stmt() {
                Ok(Some(s)) => out.push(s),
                Ok(None) => {}
                Err(()) => {
                    self.recover_stmt();
                    if self.i == start {
                        self.bump();
                    }
                }
            }
        }
    }

    /// A statement, or a block in braces.
    fn stmt_or_block(&mut self) -> PResult<Vec<Stmt>> {
        if self.peek() == &Tok::LBrace {
            self.block()
        } else {
            Ok(self.stmt()?.into_iter().collect())
        }
    }

    fn stmt(&mut self) -> PResult<Option<Stmt>> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Semi => {
                self.bump();
                Ok(None)
            }
            Tok::LBrace => Ok(Some(Stmt::Block(self.block()?))),
            Tok::Ident(w) => match w.as_str() {
                "if" => {
                    self.bump();
                    let cond = self.expr()?;
                    let then = self.stmt_or_block()?;
                    let els = if self.is_ident("else") {
                        self.bump();
                        self.stmt_or_block()?
                    } else {
                        Vec::new()
                    };
                    Ok(Some(Stmt::If {
                        cond,
                        then,
                        els,
                        at,
                    }))
                }
                "while" => {
                    self.bump();
                    let cond = self.expr()?;
                    let body = self.stmt_or_block()?;
                    Ok(Some(Stmt::While { cond, body, at }))
                }
                "switch" => self.switch(at).map(Some),
                "return" => {
                    self.bump();
                    let value = if self.peek() == &Tok::Semi || self.peek() == &Tok::RBrace {
                        None
                    } else {
                        Some(self.expr()?)
                    };
                    self.end_stmt()?;
                    Ok(Some(Stmt::Return { value, at }))
                }
                "exit" | "drop" | "break" => {
                    self.bump();
                    // `exit(0)`/`drop(1)`: Kamailio accepts an ignored code.
                    if self.eat(&Tok::LParen) {
                        let _ = self.expr()?;
                        self.expect(&Tok::RParen, "`)`")?;
                    }
                    self.end_stmt()?;
                    Ok(Some(match w.as_str() {
                        "exit" => Stmt::Exit { at },
                        "drop" => Stmt::Drop { at },
                        _ => Stmt::Break { at },
                    }))
                }
                "else" => self.fail("a statement (this `else` has no `if`)"),
                "case" | "default" => self.fail("a statement (`case` outside a `switch`)"),
                _ if self.peek_n(1) == &Tok::Assign => {
                    let found = format!("`{w} =`");
                    self.diags.push(Diagnostic::expected(
                        self.src.pos(at),
                        found,
                        format!("a pseudo-variable to assign to (`$var({w}) = ...`)"),
                    ));
                    Err(())
                }
                _ => {
                    let e = self.expr()?;
                    self.end_stmt()?;
                    Ok(Some(Stmt::Expr(e)))
                }
            },
            Tok::Pv(pv) => {
                if matches!(self.peek_n(1), Tok::Assign | Tok::PlusAssign) {
                    self.bump();
                    let add = self.bump().tok == Tok::PlusAssign;
                    let value = self.expr()?;
                    self.end_stmt()?;
                    return Ok(Some(Stmt::Assign {
                        pv,
                        pv_at: at,
                        add,
                        value,
                        at,
                    }));
                }
                let e = self.expr()?;
                self.end_stmt()?;
                Ok(Some(Stmt::Expr(e)))
            }
            _ => {
                let e = self.expr()?;
                self.end_stmt()?;
                Ok(Some(Stmt::Expr(e)))
            }
        }
    }

    /// `;` ends a statement; Kamailio also lets `}` end the last one.
    fn end_stmt(&mut self) -> PResult<()> {
        if self.eat(&Tok::Semi) || self.peek() == &Tok::RBrace {
            Ok(())
        } else {
            self.fail("`;`")
        }
    }

    fn switch(&mut self, at: usize) -> PResult<Stmt> {
        self.bump();
        let subject = self.expr()?;
        self.expect(&Tok::LBrace, "`{` after `switch (...)`")?;
        let mut cases: Vec<Case> = Vec::new();
        loop {
            let cat = self.at();
            let label = if self.is_ident("case") {
                self.bump();
                let l = self.expr()?;
                Some(l)
            } else if self.is_ident("default") {
                self.bump();
                None
            } else if self.eat(&Tok::RBrace) {
                break;
            } else {
                return self.fail("`case`, `default` or `}` in a switch");
            };
            self.expect(&Tok::Colon, "`:` after the case label")?;
            let mut body = Vec::new();
            while !(self.is_ident("case")
                || self.is_ident("default")
                || matches!(self.peek(), Tok::RBrace | Tok::Eof))
            {
                let start = self.i;
                match self.stmt() {
                    Ok(Some(s)) => body.push(s),
                    Ok(None) => {}
                    Err(()) => {
                        self.recover_stmt();
                        if self.i == start {
                            self.bump();
                        }
                    }
                }
            }
            cases.push(Case {
                label,
                body,
                at: cat,
            });
        }
        Ok(Stmt::Switch { subject, cases, at })
    }

    pub fn expr(&mut self) -> PResult<Expr> {
        self.binary(0)
    }

    fn binop_at(&self, level: usize) -> Option<BinOp> {
        let t = self.peek();
        let op = match (level, t) {
            (0, Tok::OrOr) => BinOp::Or,
            (0, Tok::Ident(w)) if w == "or" => BinOp::Or,
            (1, Tok::AndAnd) => BinOp::And,
            (1, Tok::Ident(w)) if w == "and" => BinOp::And,
            (2, Tok::BitOr) => BinOp::BitOr,
            (3, Tok::BitAnd) => BinOp::BitAnd,
            (4, Tok::BitXor) => BinOp::BitXor,
            (5, Tok::Eq) => BinOp::Eq,
            (5, Tok::Ne) => BinOp::Ne,
            (5, Tok::Match) => BinOp::Match,
            (5, Tok::NoMatch) => BinOp::NoMatch,
            (6, Tok::Lt) => BinOp::Lt,
            (6, Tok::Gt) => BinOp::Gt,
            (6, Tok::Le) => BinOp::Le,
            (6, Tok::Ge) => BinOp::Ge,
            (7, Tok::Plus) => BinOp::Add,
            (7, Tok::Minus) => BinOp::Sub,
            (8, Tok::Star) => BinOp::Mul,
            (8, Tok::Slash) => BinOp::Div,
            (8, Tok::Percent) => BinOp::Mod,
            _ => return None,
        };
        Some(op)
    }

    fn binary(&mut self, level: usize) -> PResult<Expr> {
        if level > 8 {
            return self.unary();
        }
        let mut lhs = self.binary(level + 1)?;
        while let Some(op) = self.binop_at(level) {
            let at = self.at();
            self.bump();
            let rhs = self.binary(level + 1)?;
            lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs), at);
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let at = self.at();
        let op = match self.peek() {
            Tok::Not => UnOp::Not,
            Tok::Minus => UnOp::Neg,
            Tok::BitNot => UnOp::BitNot,
            Tok::Ident(w) if w == "defined" => UnOp::Defined,
            _ => return self.primary(),
        };
        self.bump();
        let e = self.unary()?;
        Ok(Expr::Unary(op, Box::new(e), at))
    }

    fn primary(&mut self) -> PResult<Expr> {
        let at = self.at();
        match self.peek().clone() {
            Tok::Int(i) => {
                self.bump();
                Ok(Expr::Int(i, at))
            }
            Tok::Str(_) => Ok(Expr::Str(self.string_value("a string")?, at)),
            Tok::Ip(s) => {
                self.bump();
                Ok(Expr::Ip(s, at))
            }
            Tok::Pv(s) => {
                self.bump();
                Ok(Expr::Pv(s, at))
            }
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(&Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::Ident(name) => {
                self.bump();
                if self.peek() != &Tok::LParen {
                    return Ok(Expr::Word(name, at));
                }
                self.bump();
                let mut args = Vec::new();
                if !self.eat(&Tok::RParen) {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(&Tok::RParen) {
                            break;
                        }
                        self.expect(&Tok::Comma, "`,` or `)` in the argument list")?;
                    }
                }
                match name.as_str() {
                    "strlen" | "strempty" if args.len() == 1 => {
                        let op = if name == "strlen" {
                            UnOp::StrLen
                        } else {
                            UnOp::StrEmpty
                        };
                        Ok(Expr::Unary(op, Box::new(args.pop().expect("one arg")), at))
                    }
                    _ => Ok(Expr::Call { name, args, at }),
                }
            }
            _ => self.fail("an expression"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::lex;
    use super::super::preproc::preprocess_str;
    use super::*;

    fn parse_str(text: &str) -> (CfgFile, Diags) {
        let mut d = Diags::default();
        let src = preprocess_str("t.cfg", text, &[], &mut d);
        let toks = lex(&src, &mut d);
        let f = parse(&toks, &src, &mut d);
        (f, d)
    }

    #[test]
    fn globals_listen_and_modparams() {
        let (f, d) = parse_str(
            "debug=3\nlisten=udp:127.0.0.1:5060 advertise 1.2.3.4:5080 name \"s1\"\nlisten=tcp:[::1]:5060\n\
             loadmodule \"sl.so\"\nmodparam(\"a|b\", \"p\", \"x\" \"y\")\nmodparam(\"m\",\"n\",-1)\nlog_facility=LOG_LOCAL0\n",
        );
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(f.items.len(), 7);
        match &f.items[1] {
            TopItem::Listen { item, .. } => {
                assert_eq!(item.addr, "udp:127.0.0.1:5060");
                assert_eq!(item.advertise.as_deref(), Some("1.2.3.4:5080"));
                assert_eq!(item.name.as_deref(), Some("s1"));
            }
            other => panic!("{other:?}"),
        }
        match &f.items[2] {
            TopItem::Listen { item, .. } => assert_eq!(item.addr, "tcp:[::1]:5060"),
            other => panic!("{other:?}"),
        }
        match &f.items[4] {
            TopItem::ModParam { value, .. } => assert_eq!(value, &ParamValue::Str("xy".into())),
            other => panic!("{other:?}"),
        }
        match &f.items[5] {
            TopItem::ModParam { value, .. } => assert_eq!(value, &ParamValue::Int(-1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn statements_and_precedence() {
        let (f, d) = parse_str(
            "request_route { if (a() || b() && !c()) { x(); } else if ($rs == 1+2*3) y(); \
             switch($var(r)) { case -1: case 2: z(); break; default: exit; } $var(a) = 1; return; }\n\
             route[R1] { while($var(i) < 3) { $var(i) = $var(i) + 1; } }\nevent_route[tm:branch-failure:X] { drop; }",
        );
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(f.items.len(), 3);
        let TopItem::Route { body, .. } = &f.items[0] else {
            panic!()
        };
        let Stmt::If { cond, .. } = &body[0] else {
            panic!()
        };
        assert!(
            matches!(cond, Expr::Binary(BinOp::Or, _, r, _) if matches!(**r, Expr::Binary(BinOp::And, _, _, _)))
        );
        let TopItem::Route { name, kind, .. } = &f.items[2] else {
            panic!()
        };
        assert_eq!(name.as_deref(), Some("tm:branch-failure:X"));
        assert_eq!(*kind, RouteKind::Event);
    }

    #[test]
    fn errors_are_collected_with_positions() {
        let (_, d) = parse_str("request_route {\n  x()\n  y();\n  if ($a == ) z();\n}\nfoo bar\n");
        assert_eq!(d.list.len(), 3, "{:?}", d.list);
        assert_eq!(
            d.list[0].to_string(),
            "t.cfg:3:3: error: found `y`, expected `;`"
        );
        assert_eq!((d.list[1].pos.line, d.list[1].pos.col), (4, 13));
        assert_eq!(d.list[2].pos.line, 6);
    }
}
