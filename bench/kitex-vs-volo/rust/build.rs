fn main() {
    volo_build::ConfigBuilder::default()
        .write()
        .expect("generate Thrift code from ../idl/echo.thrift");
}
