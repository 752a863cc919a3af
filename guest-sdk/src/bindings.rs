//! The bindings that wit-bindgen generates from `wit/`. Hidden: scenario
//! authors use the wrappers in this crate instead.

wit_bindgen::generate!({
    world: "scenario",
    path: "../wit",
    pub_export_macro: true,
    export_macro_name: "__export_scenario",
    default_bindings_module: "throng_sdk::__private::bindings",
    runtime_path: "throng_sdk::__private::wit_bindgen::rt",
});
