use std::{env, fs, path::PathBuf};

fn main() {
    volo_build::ConfigBuilder::default()
        .plugin(volo_build::plugin::SerdePlugin)
        .write()
        .expect("generate Thrift code from ../idl");
    write_exception_impls();
}

/// Every method `throws (1: base.BizError err)`, so volo-build emits one enum per
/// method with a single `Err(BizError)` variant. Emit a `BizException` impl for each,
/// so callers and handlers convert exceptions generically.
fn write_exception_impls() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let code = fs::read_to_string(out.join("volo_gen.rs")).expect("read generated code");
    let mut module = String::new();
    let mut impls = String::new();
    for line in code.lines() {
        if let Some(rest) = line.strip_prefix("    pub mod ") {
            module = rest.trim_end_matches(" {").trim().to_owned();
        } else if let Some(rest) = line.strip_prefix("        pub enum ") {
            let name = rest.trim_end_matches(" {").trim();
            if name.ends_with("Exception") {
                impls.push_str(&format!(
                    "impl crate::BizException for crate::{module}::{name} {{\n\
                     \x20   fn from_biz(e: crate::base::BizError) -> Self {{ Self::Err(e) }}\n\
                     \x20   fn into_biz(self) -> crate::base::BizError {{ match self {{ Self::Err(e) => e }} }}\n\
                     }}\n"
                ));
            }
        }
    }
    assert!(
        !impls.is_empty(),
        "no exception enums found in generated code"
    );
    fs::write(out.join("exceptions.rs"), impls).expect("write exceptions.rs");
}
