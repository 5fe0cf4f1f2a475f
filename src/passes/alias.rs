//! Pass `alias` (not yet implemented).
use super::{Context, Plan};
use crate::rego::ParsedModule;
pub struct Alias;
impl super::Pass for Alias {
    fn id(&self) -> &'static str {
        "alias"
    }
    fn describe(&self) -> &'static str {
        ""
    }
    fn plan(&self, _m: &ParsedModule, _cx: &Context) -> Plan {
        Plan::default()
    }
}
