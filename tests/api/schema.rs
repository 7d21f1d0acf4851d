#[test]
fn the_committed_schema_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql");
    let committed = std::fs::read_to_string(&path).expect("schema.graphql exists");

    let generated = nudge::graphql::sdl();

    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}
