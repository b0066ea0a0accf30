//! x
pub fn render_text(_p: &super::Plan) -> String {
    String::new()
}
