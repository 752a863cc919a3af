//! `hello`: the smallest useful scenario. Each user fetches the home page
//! five times as often as the about page, waiting half a second to a second
//! between requests.
//!
//! Build and run it against any HTTP server:
//!
//! ```sh
//! throng run scenarios/hello --host http://127.0.0.1:8080 --users 10 --run-time 30s
//! ```

use std::time::Duration;

use throng_sdk::prelude::*;

struct Visitor;

impl Scenario for Visitor {
    fn describe() -> Describe<Self> {
        Describe::new("hello")
            .description("GET / five times as often as /about")
            .wait(Wait::between(
                Duration::from_millis(500),
                Duration::from_secs(1),
            ))
            .task("index", 5, Visitor::index)
            .task("about", 1, Visitor::about)
    }

    fn on_start() -> Result<Self> {
        Ok(Visitor)
    }
}

impl Visitor {
    fn index(&mut self) -> Result<()> {
        let page = http::get("/").send()?;
        metrics::check("home page answers 200", page.status() == 200);
        Ok(())
    }

    fn about(&mut self) -> Result<()> {
        http::get("/about").expect_status(404).send()?;
        Ok(())
    }
}

throng_sdk::export!(Visitor);
