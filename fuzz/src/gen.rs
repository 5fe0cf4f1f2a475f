//! Structured inputs for `rego_generated`: a small policy built from the patterns the rewrite
//! passes look for (and the forms they must decline), a `data.rules` document and an input,
//! all derived with `arbitrary` and rendered to Rego v1 text and JSON.
//!
//! Every rule of the generated package `t` is named `r<i>`; the queries are `data.t.r<i>`.

use arbitrary::Arbitrary;
use serde_json::{json, Map, Value};

/// At most this many rules per policy (more only slows the fuzzer down).
pub const MAX_RULES: usize = 4;

/// One generated (policy, data, input) triple.
#[derive(Arbitrary, Debug, Clone)]
pub struct Case {
    pub rules: Vec<RuleGen>,
    pub extra: Extra,
    pub rego_v1_import: bool,
    pub data: DataGen,
    pub input: InputGen,
    /// Evaluate with strict builtin errors (a builtin's type error is an error, not undefined).
    pub strict: bool,
}

/// A second module besides `t.rego`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    None,
    /// `package lib` with `lookup(m, k) := m[k]` (used by [`Access::LibFunc`]).
    Lib,
    /// `package rules` defining `data.rules.extra`: rules now share `data.rules`.
    RulesPackage,
    /// `package rules.a`, a rule inside `data.rules.a`.
    RulesAPackage,
}

/// The base document a pattern reads.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Rules,
    RulesA,
    /// `data.rules["a.b"]`: a key that is not an identifier.
    RulesDotted,
    Other,
}

impl Base {
    fn text(self) -> &'static str {
        match self {
            Base::Rules => "data.rules",
            Base::RulesA => "data.rules.a",
            Base::RulesDotted => "data.rules[\"a.b\"]",
            Base::Other => "data.other",
        }
    }
}

/// A key: from the input, a literal, or a variable bound earlier in the body.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyGen {
    Input,
    Input2,
    Bound,
    Lit(Lit),
}

/// Literal keys, the awkward ones first.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lit {
    K,
    One,
    Empty,
    Dotted,
    Missing,
    NumOne,
    NumZero,
    True,
    Null,
    ArrayPath,
    EmptyArray,
    A,
}

impl Lit {
    fn text(self) -> &'static str {
        match self {
            Lit::K => "\"k\"",
            Lit::One => "\"1\"",
            Lit::Empty => "\"\"",
            Lit::Dotted => "\"a.b\"",
            Lit::Missing => "\"missing\"",
            Lit::NumOne => "1",
            Lit::NumZero => "0",
            Lit::True => "true",
            Lit::Null => "null",
            Lit::ArrayPath => "[\"a\", \"b\"]",
            Lit::EmptyArray => "[]",
            Lit::A => "\"a\"",
        }
    }
}

/// The default of `object.get`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultGen {
    Str,
    False,
    Null,
    Zero,
    EmptyObj,
    Input,
}

impl DefaultGen {
    fn text(self) -> &'static str {
        match self {
            DefaultGen::Str => "\"d\"",
            DefaultGen::False => "false",
            DefaultGen::Null => "null",
            DefaultGen::Zero => "0",
            DefaultGen::EmptyObj => "{}",
            DefaultGen::Input => "input.dflt",
        }
    }
}

/// Shapes of a user function that receives a data document.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum FuncShape {
    /// `f(m, k) := m[k]`
    Plain,
    /// `f(m, k) := m[k] if is_string(k)` + `f(m, k) := "number" if is_number(k)`
    MultiClause,
    /// `f(m, k) := v if { v := m[k] } else := "fallback"`
    Else,
    /// `default f(_, _) := "dflt"` + `f(m, k) := m[k]`
    Default,
    /// `f(m, k) := g(m, k)`, `g(m, k) := m[k]`
    Chain,
    /// `f(k, m) := m[k]` (data in the second position)
    Swapped,
    /// `f(m, k) := m[k].b`
    Nested,
    /// `f(m, k) := count(m)` (uses the whole document)
    Whole,
    /// `f(m, k) := [x | some x, _ in m; x == k]` (iterates its parameter)
    Iterates,
    /// `f(m, k) := object.get(m, k, "d")`
    ObjectGet,
}

/// How an alias is used.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasUse {
    Index,
    Dot,
    IndexNested,
    StrLit,
    NumLit,
    /// The alias escapes: passed whole.
    Whole,
    /// Iterated.
    Iterated,
}

/// One access pattern.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    ObjectGet(Base, KeyGen, DefaultGen),
    /// `object.get(B, [K, "b"], D)`: a path key.
    ObjectGetPath(Base, KeyGen, DefaultGen),
    Func(Base, KeyGen, FuncShape),
    LibFunc(Base, KeyGen),
    /// `some kk, vv in B; kk == K` (bool: `K == kk`; second bool: yield the key).
    SomeKV(Base, KeyGen, bool, bool),
    /// `some kk in object.keys(B); kk == K`
    SomeKeys(Base, KeyGen),
    /// `vv := B[kk]; kk == K` (bool: `some kk` first; second: `=` instead of `:=`).
    IndexVar(Base, KeyGen, bool, bool),
    KeyInKeys(Base, KeyGen),
    /// `object.keys(B)[_] == K`
    KeysIndexEq(Base, KeyGen),
    /// `rs := B` then a use of `rs` (bool: `rs = B`).
    Alias(Base, KeyGen, AliasUse, bool),
    Direct(Base, KeyGen),
    Count(Base),
    Keys(Base),
}

/// Where an access sits in the policy.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// `r := <value>` (with a body when the access needs statements).
    Value,
    /// `r if <cond>`
    Bool,
    /// `r if not <cond>`
    Not,
    /// `r := [v | ...]`
    ArrayComp,
    /// `r := {v | ...}`
    SetComp,
    /// `r := {K: v | ...}`
    ObjectComp,
    /// `r if every x in [K, "k"] { ... }`
    Every,
    /// `g(x) := <value with key x>`; `r := g(K)`
    Function,
    /// `default r := "dflt"` and `r := <value>`
    Default,
    /// `r := x if x := <inner rule> with data.rules as <mock>`
    WithRule(Mock),
    /// `r contains <value> if ...` (partial set)
    Contains,
    /// `r[K] := <value>` (partial object)
    PartialObject,
}

/// A value a rule-level `with data.rules as …` puts in place of the data.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mock {
    Object,
    Array,
    Str,
    Null,
    Empty,
    Key,
}

impl Mock {
    fn text(self) -> &'static str {
        match self {
            Mock::Object => "{\"k\": \"mocked\", \"1\": \"one\", \"a\": {\"b\": 2}}",
            Mock::Array => "[\"x\", \"y\"]",
            Mock::Str => "\"str\"",
            Mock::Null => "null",
            Mock::Empty => "{}",
            Mock::Key => "\"only-k\"",
        }
    }
    fn target(self) -> &'static str {
        match self {
            Mock::Key => "data.rules.k",
            _ => "data.rules",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct RuleGen {
    pub access: Access,
    pub wrap: Wrap,
}

/// `data.rules` as stored in the bundle.
#[derive(Arbitrary, Debug, Clone)]
pub enum DataGen {
    Object(Vec<(KeyChoice, ValChoice)>),
    /// An object with `a` an object of its own (for `data.rules.a`).
    Nested(Vec<(KeyChoice, ValChoice)>, Vec<(KeyChoice, ValChoice)>),
    Array,
    Str,
    Null,
    Absent,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChoice {
    K,
    One,
    Two,
    Empty,
    Dotted,
    A,
    B,
    X,
    True,
    Null,
    Space,
    Unicode,
}

impl KeyChoice {
    fn text(self) -> &'static str {
        match self {
            KeyChoice::K => "k",
            KeyChoice::One => "1",
            KeyChoice::Two => "2",
            KeyChoice::Empty => "",
            KeyChoice::Dotted => "a.b",
            KeyChoice::A => "a",
            KeyChoice::B => "b",
            KeyChoice::X => "x",
            KeyChoice::True => "true",
            KeyChoice::Null => "null",
            KeyChoice::Space => "a b",
            KeyChoice::Unicode => "é",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValChoice {
    False,
    Null,
    Zero,
    EmptyObj,
    Str,
    One,
    Obj,
    Arr,
    True,
    EmptyStr,
    EmptyArr,
}

impl ValChoice {
    fn value(self) -> Value {
        match self {
            ValChoice::False => json!(false),
            ValChoice::Null => Value::Null,
            ValChoice::Zero => json!(0),
            ValChoice::EmptyObj => json!({}),
            ValChoice::Str => json!("v"),
            ValChoice::One => json!(1),
            ValChoice::Obj => json!({"b": 2}),
            ValChoice::Arr => json!([10, 20]),
            ValChoice::True => json!(true),
            ValChoice::EmptyStr => json!(""),
            ValChoice::EmptyArr => json!([]),
        }
    }
}

/// The input document.
#[derive(Arbitrary, Debug, Clone)]
pub enum InputGen {
    /// No input document at all.
    None,
    Empty,
    Key(InputVal, InputVal, InputVal),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputVal {
    K,
    Missing,
    Empty,
    Dotted,
    One,
    Num1,
    Num1_0,
    Num2,
    True,
    Null,
    Obj,
    Arr,
    A,
    X,
    Absent,
}

impl InputVal {
    fn value(self) -> Option<Value> {
        Some(match self {
            InputVal::K => json!("k"),
            InputVal::Missing => json!("missing"),
            InputVal::Empty => json!(""),
            InputVal::Dotted => json!("a.b"),
            InputVal::One => json!("1"),
            InputVal::Num1 => json!(1),
            InputVal::Num1_0 => serde_json::from_str("1.0").unwrap_or(Value::Null),
            InputVal::Num2 => json!(2),
            InputVal::True => json!(true),
            InputVal::Null => Value::Null,
            InputVal::Obj => json!({"a": 1}),
            InputVal::Arr => json!(["a", "b"]),
            InputVal::A => json!("a"),
            InputVal::X => json!("x"),
            InputVal::Absent => return None,
        })
    }
}

/// A rendered case: modules (path, text), the data document (None: no data file), the input
/// (None: no input document) and the queries.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rendered {
    pub modules: Vec<(String, String)>,
    pub data: Option<Value>,
    pub input: Option<Value>,
    pub queries: Vec<String>,
    pub strict: bool,
}

fn key_text(k: KeyGen) -> &'static str {
    match k {
        KeyGen::Input => "input.key",
        KeyGen::Input2 => "input.k2",
        KeyGen::Bound => "kb",
        KeyGen::Lit(l) => l.text(),
    }
}

/// Statements and the value expression of one access, with `key` as the key expression.
/// Functions it needs are appended to `defs` (names made unique with `i`).
fn access(a: Access, key: &str, i: usize, defs: &mut Vec<String>) -> (Vec<String>, String) {
    match a {
        Access::ObjectGet(b, _, d) => (
            vec![],
            format!("object.get({}, {key}, {})", b.text(), d.text()),
        ),
        Access::ObjectGetPath(b, _, d) => (
            vec![],
            format!("object.get({}, [{key}, \"b\"], {})", b.text(), d.text()),
        ),
        Access::Func(b, _, shape) => {
            let f = format!("f{i}");
            let (call, def) = match shape {
                FuncShape::Plain => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := m[k]\n"),
                ),
                FuncShape::MultiClause => (
                    format!("{f}({}, {key})", b.text()),
                    format!(
                        "{f}(m, k) := m[k] if is_string(k)\n\n{f}(m, k) := \"number\" if is_number(k)\n"
                    ),
                ),
                FuncShape::Else => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := v if {{\n\tv := m[k]\n}} else := \"fallback\"\n"),
                ),
                FuncShape::Default => (
                    format!("{f}({}, {key})", b.text()),
                    format!("default {f}(_, _) := \"dflt\"\n\n{f}(m, k) := m[k]\n"),
                ),
                FuncShape::Chain => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := g{i}(m, k)\n\ng{i}(m, k) := m[k]\n"),
                ),
                FuncShape::Swapped => (
                    format!("{f}({key}, {})", b.text()),
                    format!("{f}(k, m) := m[k]\n"),
                ),
                FuncShape::Nested => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := m[k].b\n"),
                ),
                FuncShape::Whole => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := count(m)\n"),
                ),
                FuncShape::Iterates => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := [x | some x, _ in m; x == k]\n"),
                ),
                FuncShape::ObjectGet => (
                    format!("{f}({}, {key})", b.text()),
                    format!("{f}(m, k) := object.get(m, k, \"d\")\n"),
                ),
            };
            defs.push(def);
            (vec![], call)
        }
        Access::LibFunc(b, _) => (vec![], format!("data.lib.lookup({}, {key})", b.text())),
        Access::SomeKV(b, _, swap, yield_key) => {
            let eq = if swap {
                format!("{key} == kk")
            } else {
                format!("kk == {key}")
            };
            (
                vec![format!("some kk, vv in {}", b.text()), eq],
                if yield_key { "kk" } else { "vv" }.to_string(),
            )
        }
        Access::SomeKeys(b, _) => (
            vec![
                format!("some kk in object.keys({})", b.text()),
                format!("kk == {key}"),
            ],
            "kk".to_string(),
        ),
        Access::IndexVar(b, _, some, unify) => {
            let mut s = Vec::new();
            if some {
                s.push("some kk".to_string());
            }
            let op = if unify { "=" } else { ":=" };
            s.push(format!("vv {op} {}[kk]", b.text()));
            s.push(format!("kk == {key}"));
            (s, "vv".to_string())
        }
        Access::KeyInKeys(b, _) => (vec![], format!("{key} in object.keys({})", b.text())),
        Access::KeysIndexEq(b, _) => (
            vec![format!("object.keys({})[_] == {key}", b.text())],
            "true".to_string(),
        ),
        Access::Alias(b, _, use_, unify) => {
            let op = if unify { "=" } else { ":=" };
            let bind = format!("rs {op} {}", b.text());
            match use_ {
                AliasUse::Index => (vec![bind], format!("rs[{key}]")),
                AliasUse::Dot => (vec![bind], "rs.k".to_string()),
                AliasUse::IndexNested => (vec![bind], format!("rs[{key}].b")),
                AliasUse::StrLit => (vec![bind], "rs[\"1\"]".to_string()),
                AliasUse::NumLit => (vec![bind], "rs[1]".to_string()),
                AliasUse::Whole => (vec![bind], format!("[rs, {key}]")),
                AliasUse::Iterated => (vec![bind], format!("[x | some x, _ in rs; x == {key}]")),
            }
        }
        Access::Direct(b, _) => (vec![], format!("{}[{key}]", b.text())),
        Access::Count(b) => (vec![], format!("count({})", b.text())),
        Access::Keys(b) => (vec![], format!("object.keys({})", b.text())),
    }
}

fn access_key(a: Access) -> KeyGen {
    match a {
        Access::ObjectGet(_, k, _)
        | Access::ObjectGetPath(_, k, _)
        | Access::Func(_, k, _)
        | Access::LibFunc(_, k)
        | Access::SomeKV(_, k, _, _)
        | Access::SomeKeys(_, k)
        | Access::IndexVar(_, k, _, _)
        | Access::KeyInKeys(_, k)
        | Access::KeysIndexEq(_, k)
        | Access::Alias(_, k, _, _)
        | Access::Direct(_, k) => k,
        Access::Count(_) | Access::Keys(_) => KeyGen::Input,
    }
}

fn body(stmts: &[String]) -> String {
    let mut s = String::from("{\n");
    for st in stmts {
        s.push('\t');
        s.push_str(st);
        s.push('\n');
    }
    s.push('}');
    s
}

/// Render one rule (and the functions/helper rules it needs) into `out`.
fn rule(g: RuleGen, i: usize, out: &mut String, defs: &mut Vec<String>) {
    let r = format!("r{i}");
    let kg = access_key(g.access);
    // The key binding a `Bound` key needs, first in the body.
    let mut pre: Vec<String> = Vec::new();
    if kg == KeyGen::Bound {
        pre.push("kb := input.key".to_string());
    }
    let key = key_text(kg);
    let with_value = |stmts: Vec<String>, value: &str| -> Vec<String> {
        let mut all = pre.clone();
        all.extend(stmts);
        all.push(format!("v := {value}"));
        all
    };
    match g.wrap {
        Wrap::Value | Wrap::Default => {
            if g.wrap == Wrap::Default {
                out.push_str(&format!("default {r} := \"dflt\"\n\n"));
            }
            let (stmts, value) = access(g.access, key, i, defs);
            if stmts.is_empty() && pre.is_empty() {
                out.push_str(&format!("{r} := {value}\n\n"));
            } else {
                out.push_str(&format!(
                    "{r} := v if {}\n\n",
                    body(&with_value(stmts, &value))
                ));
            }
        }
        Wrap::Bool | Wrap::Not => {
            let (stmts, value) = access(g.access, key, i, defs);
            let mut all = pre.clone();
            all.extend(stmts);
            all.push(value);
            if g.wrap == Wrap::Bool {
                out.push_str(&format!("{r} if {}\n\n", body(&all)));
            } else if all.len() == 1 {
                out.push_str(&format!("{r} if not {}\n\n", all[0]));
            } else {
                out.push_str(&format!("c{i} if {}\n\n{r} if not c{i}\n\n", body(&all)));
            }
        }
        Wrap::ArrayComp | Wrap::SetComp | Wrap::ObjectComp => {
            let (stmts, value) = access(g.access, key, i, defs);
            let mut all = pre.clone();
            all.extend(stmts);
            all.push(format!("v := {value}"));
            let q = all.join("; ");
            let text = match g.wrap {
                Wrap::ArrayComp => format!("[v | {q}]"),
                Wrap::SetComp => format!("{{v | {q}}}"),
                _ => format!("{{kc: v | kc := \"c\"; {q}}}"),
            };
            out.push_str(&format!("{r} := {text}\n\n"));
        }
        Wrap::Every => {
            let (stmts, value) = access(g.access, "x", i, defs);
            let mut inner = stmts;
            inner.push(value);
            let ind: Vec<String> = inner.iter().map(|s| format!("\t{s}")).collect();
            let mut all = pre.clone();
            all.push(format!(
                "every x in [{key}, \"k\"] {{\n\t{}\n\t}}",
                ind.join("\n\t")
            ));
            out.push_str(&format!("{r} if {}\n\n", body(&all)));
        }
        Wrap::Function => {
            let (stmts, value) = access(g.access, "x", i, defs);
            if stmts.is_empty() {
                out.push_str(&format!("h{i}(x) := {value}\n\n"));
            } else {
                let mut all = stmts;
                all.push(format!("v := {value}"));
                out.push_str(&format!("h{i}(x) := v if {}\n\n", body(&all)));
            }
            if pre.is_empty() {
                out.push_str(&format!("{r} := h{i}({key})\n\n"));
            } else {
                out.push_str(&format!(
                    "{r} := v if {}\n\n",
                    body(&with_value(vec![], &format!("h{i}({key})")))
                ));
            }
        }
        Wrap::WithRule(mock) => {
            let (stmts, value) = access(g.access, key, i, defs);
            out.push_str(&format!(
                "inner{i} := v if {}\n\n",
                body(&with_value(stmts, &value))
            ));
            out.push_str(&format!(
                "{r} := x if {{\n\tx := inner{i} with {} as {}\n}}\n\n",
                mock.target(),
                mock.text()
            ));
        }
        Wrap::Contains => {
            let (stmts, value) = access(g.access, key, i, defs);
            out.push_str(&format!(
                "{r} contains v if {}\n\n",
                body(&with_value(stmts, &value))
            ));
        }
        Wrap::PartialObject => {
            let (stmts, value) = access(g.access, key, i, defs);
            out.push_str(&format!(
                "{r}[\"p\"] := v if {}\n\n",
                body(&with_value(stmts, &value))
            ));
        }
    }
}

fn pairs(entries: &[(KeyChoice, ValChoice)]) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in entries.iter().take(8) {
        m.insert(k.text().to_string(), v.value());
    }
    m
}

impl Case {
    /// Rego text, data and input of this case.
    pub fn render(&self) -> Rendered {
        let mut text = String::from("package t\n\n");
        if self.rego_v1_import {
            text.push_str("import rego.v1\n\n");
        }
        let mut defs = Vec::new();
        let mut rules = String::new();
        let n = self.rules.len().clamp(1, MAX_RULES);
        let default_rule = RuleGen {
            access: Access::ObjectGet(Base::Rules, KeyGen::Input, DefaultGen::Str),
            wrap: Wrap::Value,
        };
        let mut queries = Vec::new();
        for i in 0..n {
            let g = self.rules.get(i).copied().unwrap_or(default_rule);
            rule(g, i, &mut rules, &mut defs);
            queries.push(format!("data.t.r{i}"));
        }
        for d in &defs {
            text.push_str(d);
            text.push('\n');
        }
        text.push_str(&rules);
        let mut modules = vec![("t.rego".to_string(), text)];
        let uses_lib = self
            .rules
            .iter()
            .take(n)
            .any(|r| matches!(r.access, Access::LibFunc(..)));
        if uses_lib || self.extra == Extra::Lib {
            modules.push((
                "lib.rego".into(),
                "package lib\n\nlookup(m, k) := m[k]\n".into(),
            ));
        }
        match self.extra {
            Extra::RulesPackage => {
                modules.push(("rules.rego".into(), "package rules\n\nextra := 1\n".into()))
            }
            Extra::RulesAPackage => modules.push((
                "rules_a.rego".into(),
                "package rules.a\n\nz := \"zz\"\n".into(),
            )),
            _ => {}
        }

        let rules_doc = match &self.data {
            DataGen::Object(e) => Some(Value::Object(pairs(e))),
            DataGen::Nested(e, a) => {
                let mut m = pairs(e);
                m.insert("a".into(), Value::Object(pairs(a)));
                Some(Value::Object(m))
            }
            DataGen::Array => Some(json!([10, 20])),
            DataGen::Str => Some(json!("str")),
            DataGen::Null => Some(Value::Null),
            DataGen::Absent => None,
        };
        let data = rules_doc.map(|r| json!({"rules": r, "other": {"k": "other"}}));
        // regorus gives `false` for `undefined in S` where OPA gives undefined (a known
        // regorus deviation, also noted in tests/passes_unit.rs): the `in` pattern always gets
        // a defined key from the input, so that regorus decides as OPA does.
        let defined_keys = self.rules.iter().take(n).any(|r| {
            matches!(
                r.access,
                Access::KeyInKeys(_, KeyGen::Input | KeyGen::Input2 | KeyGen::Bound)
            )
        });
        let (k, k2, d) = match &self.input {
            InputGen::None if !defined_keys => (None, None, None),
            InputGen::Empty if !defined_keys => (Some(None), None, None),
            InputGen::None | InputGen::Empty => (Some(Some(InputVal::K)), Some(InputVal::K), None),
            InputGen::Key(k, k2, d) => (Some(Some(*k)), Some(*k2), Some(*d)),
        };
        let fill = |v: InputVal| {
            if defined_keys && v == InputVal::Absent {
                InputVal::K
            } else {
                v
            }
        };
        let input = k.map(|k| {
            let mut m = Map::new();
            let fields = [("key", k.map(fill)), ("k2", k2.map(fill)), ("dflt", d)];
            for (name, v) in fields {
                if let Some(v) = v.and_then(InputVal::value) {
                    m.insert(name.into(), v);
                }
            }
            Value::Object(m)
        });
        Rendered {
            modules,
            data,
            input,
            queries,
            strict: self.strict,
        }
    }
}
