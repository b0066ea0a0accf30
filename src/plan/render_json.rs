//! x
pub fn render_json(_p: &super::Plan) -> String {
    String::new()
}
