//! A thin W3C WebDriver client over reqwest, driving Debian's headless Chromium through
//! `chromedriver`: new session, navigate, find, click, type, read, cookies, run script,
//! screenshot. Each `Browser` has its own chromedriver on a free loopback port.

use std::path::PathBuf;
use std::process::Stdio;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The key under which W3C WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

/// An element found on the page.
#[derive(Clone)]
pub struct Element(String);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (no sandbox: CI runs as root), with
    /// `implicit_ms` as the time `find` waits for an element to appear.
    pub async fn start(width: u32, height: u32, implicit_ms: u64) -> Self {
        let port = free_port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group, which the Chromium it starts joins: `Drop` ends both.
            .process_group(0)
            .spawn()
            .expect("chromedriver (apt install chromium-driver; scripts/prereqs.sh)");
        // Ready once it says so on stdout.
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("started successfully") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut chrome = json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     format!("--window-size={width},{height}")]
        });
        // Narrower than a desktop window may be: a phone's viewport, emulated.
        if width < 600 {
            chrome["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2.0, "touch": true}});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": chrome
        }}});
        let resp: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = resp["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {resp}"));
        let browser = Self {
            http,
            session: format!("{base}/session/{id}"),
            driver,
        };
        browser
            .call(
                "POST",
                "/timeouts",
                json!({"implicit": implicit_ms, "pageLoad": 20_000, "script": 20_000}),
            )
            .await;
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let resp: Value = req.send().await.unwrap().json().await.unwrap();
        if let Some(err) = resp["value"].get("error") {
            panic!(
                "WebDriver {method} {path}: {err} {}",
                resp["value"]["message"]
            );
        }
        resp["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The first element matching `css`, waiting up to the implicit timeout for it.
    pub async fn find(&self, css: &str) -> Element {
        let v = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        Element(v[ELEMENT].as_str().unwrap().to_owned())
    }

    /// The first element matching XPath `xpath` (e.g. one holding some text), waiting up to
    /// the implicit timeout for it.
    pub async fn find_xpath(&self, xpath: &str) -> Element {
        let v = self
            .call(
                "POST",
                "/element",
                json!({"using": "xpath", "value": xpath}),
            )
            .await;
        Element(v[ELEMENT].as_str().unwrap().to_owned())
    }

    /// A DOM property of `e` (e.g. a `<progress>`'s `value`).
    pub async fn property(&self, e: &Element, name: &str) -> Value {
        self.call(
            "GET",
            &format!("/element/{}/property/{name}", e.0),
            Value::Null,
        )
        .await
    }

    /// How many elements match `css` now (no waiting beyond the implicit timeout).
    pub async fn count(&self, css: &str) -> usize {
        let v = self
            .call(
                "POST",
                "/elements",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_array().map_or(0, Vec::len)
    }

    pub async fn click(&self, e: &Element) {
        self.call("POST", &format!("/element/{}/click", e.0), json!({}))
            .await;
    }

    pub async fn type_into(&self, e: &Element, text: &str) {
        self.call(
            "POST",
            &format!("/element/{}/value", e.0),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn text(&self, e: &Element) -> String {
        let v = self
            .call("GET", &format!("/element/{}/text", e.0), Value::Null)
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        let e = self.find(css).await;
        self.text(&e).await
    }

    pub async fn cookies(&self) -> Vec<Value> {
        self.call("GET", "/cookie", Value::Null)
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub async fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs axe-core (tests/interop/node_modules/axe-core, pinned) on the page and returns
    /// its `serious` and `critical` violations.
    pub async fn axe_serious(&self) -> Vec<Value> {
        let source = std::fs::read_to_string(
            workspace().join("tests/interop/node_modules/axe-core/axe.min.js"),
        )
        .expect("axe-core (npm ci --prefix tests/interop; scripts/prereqs.sh)");
        self.execute(&format!("{source}\n;return true;"), json!([]))
            .await;
        let script = "const done = arguments[arguments.length - 1];\
            axe.run(document, {resultTypes: ['violations']})\
               .then(r => done(JSON.stringify(r.violations)))\
               .catch(e => done(JSON.stringify([{impact: 'critical', id: 'axe-error', help: String(e)}])));";
        let v = self
            .call(
                "POST",
                "/execute/async",
                json!({"script": script, "args": []}),
            )
            .await;
        let all: Vec<Value> = serde_json::from_str(v.as_str().unwrap()).unwrap();
        all.into_iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect()
    }

    /// Saves a PNG of the whole page (the window grown to the page's height, at most
    /// 4000 px, then restored) as `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let rect = self.call("GET", "/window/rect", Value::Null).await;
        let sizes = self
            .execute(
                "return [document.documentElement.scrollHeight, window.innerHeight];",
                json!([]),
            )
            .await;
        let (page, inner) = (sizes[0].as_i64().unwrap(), sizes[1].as_i64().unwrap());
        let chrome = rect["height"].as_i64().unwrap() - inner;
        let tall = (page + chrome).min(4000);
        if page > inner {
            self.call(
                "POST",
                "/window/rect",
                json!({"width": rect["width"], "height": tall}),
            )
            .await;
        }
        let v = self.call("GET", "/screenshot", Value::Null).await;
        if page > inner {
            self.call(
                "POST",
                "/window/rect",
                json!({"width": rect["width"], "height": rect["height"]}),
            )
            .await;
        }
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the browser session and chromedriver.
    pub async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Browser {
    /// A test that panics before `quit` leaves no browser behind: the driver's process group
    /// (chromedriver and its Chromium) is sent SIGTERM.
    fn drop(&mut self) {
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$CARGO_TARGET_DIR/ui-screenshots`, or `target/ui-screenshots` in the workspace.
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from)
        .join("ui-screenshots")
}
