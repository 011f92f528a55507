//! A shop's own exports through the trainer: `features --catalog products.csv` (the photos the
//! catalogue names, tiny CLIP), `prepare --interactions orders.csv --catalog products.csv
//! --features`, then train, eval and export, on a small generated shop.

use std::path::Path;

mod common;
use common::{ITEM_RECIPE, temp_dir, trainer};

/// 80 customers, 24 products in two lines (even ids: "lip", odd: "hair"); each customer buys
/// 5 to 8 different products of one line on consecutive days, then the first one again; one
/// customer buys 2 products only, and one order row has no customer id. CRLF and a BOM.
fn write_shop(dir: &Path) {
    let mut orders = String::from("\u{feff}order_id,customer,sku,ordered_at,quantity\r\n");
    let mut order = 0;
    for c in 0..80u32 {
        let n = if c == 79 { 2 } else { 5 + c % 4 };
        for j in 0..n {
            let sku = 2 * ((c + 5 * j) % 12) + c % 2;
            order += 1;
            orders.push_str(&format!(
                "{order},C{c:03},SKU-{sku:02},2024-03-{:02}T10:{:02}:00Z,1\r\n",
                1 + j,
                c % 60
            ));
        }
        order += 1;
        let again = 2 * (c % 12) + c % 2;
        orders.push_str(&format!("{order},C{c:03},SKU-{again:02},2024-04-{:02},2\r\n", 1 + c % 28));
    }
    orders.push_str("9999,,SKU-00,2024-05-01,1\r\n");
    std::fs::write(dir.join("orders.csv"), orders).unwrap();

    let mut products = String::from("product,title,category,image\n");
    for sku in 0..24 {
        let line = if sku % 2 == 0 { "lip" } else { "hair" };
        products.push_str(&format!(
            "SKU-{sku:02},\"The {line} product, no. {sku}\",{line},photos/{sku}.jpg\n"
        ));
    }
    products.push_str("SKU-99,\"Never \"\"sold\"\"\",lip,\n");
    std::fs::write(dir.join("products.csv"), products).unwrap();

    // Photos for SKU-00..SKU-19 (the fixtures' five PNGs in turn, named .jpg as shops do; the
    // image is recognised by its bytes); SKU-20..23 are named in the catalogue but missing.
    let photos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/clip/photos");
    let sources = [
        "astronaut_240x240.png",
        "chelsea_150x100.png",
        "chelsea_301x200.png",
        "coffee_330x220.png",
        "rocket_227x341.png",
    ];
    std::fs::create_dir_all(dir.join("photos")).unwrap();
    for sku in 0..20 {
        std::fs::copy(photos.join(sources[sku % 5]), dir.join(format!("photos/{sku}.jpg")))
            .unwrap();
    }
}

/// Trains the tiny preset on a prepared shop: one-token items from a PPMI factorisation, every
/// training window, soft targets, one epoch.
fn train_tiny(prepared: &Path, run: &Path) {
    let mut args = vec!["train", "--data", prepared.to_str().unwrap()];
    args.extend(["--out", run.to_str().unwrap(), "--preset", "tiny", "--mode", "scratch"]);
    args.extend(ITEM_RECIPE);
    args.extend(["--epochs", "1", "--batch-size", "8", "--seed", "3"]);
    let (ok, _, stderr) = trainer(&args);
    assert!(ok, "{stderr}");
}

/// `trainer eval` of A-3 on `split` (beam 4): the table's rows and the raw output.
fn eval_a3(prepared: &Path, run: &Path, split: &str) -> (Vec<serde_json::Value>, String) {
    let (ok, stdout, stderr) = trainer(&[
        "eval",
        "--data",
        prepared.to_str().unwrap(),
        "--model",
        run.to_str().unwrap(),
        "--split",
        split,
        "--prompts",
        "A-3",
        "--beams",
        "4",
        "--json",
    ]);
    assert!(ok, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    (v["rows"].as_array().unwrap().clone(), stdout)
}

#[test]
fn a_shops_orders_and_catalogue_prepare_train_evaluate_and_export() {
    let dir = temp_dir("shop");
    write_shop(&dir);
    let features = dir.join("features.safetensors");
    let clip =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/clip/tiny/model.safetensors");
    let catalog = dir.join("products.csv");
    // `trainer features` over the shop's catalogue, with `flags` after the common ones
    let features_run = |flags: &[&str]| {
        let mut args = vec!["features", "--clip", clip.to_str().unwrap()];
        args.extend(["--catalog", catalog.to_str().unwrap(), "--catalog-item-column", "product"]);
        args.extend(flags);
        trainer(&args)
    };
    let (ok, stdout, stderr) =
        features_run(&["--out", features.to_str().unwrap(), "--batch-size", "8"]);
    assert!(ok, "{stderr}");
    // 20 photos found beside the catalogue; 4 named but missing, reported by name; SKU-99 has none
    assert!(stdout.contains("wrote 20 features (20 new, 4 unreadable)"), "{stdout}");
    assert!(stderr.contains("1 catalogue items have no image"), "{stderr}");
    assert!(stderr.contains("photos/23.jpg"), "the missing photo is named: {stderr}");
    let written = vip5::weights::read_safetensors(&std::fs::read(&features).unwrap()).unwrap();
    assert_eq!(written.len(), 20);
    assert!(written.contains_key("SKU-19") && !written.contains_key("SKU-20"));
    assert!(written.values().all(|t| t.shape == [16] && t.data.iter().all(|x| x.is_finite())));
    // the same photo gives the same features whichever SKU it belongs to (SKU-00 and SKU-05)
    assert_eq!(written["SKU-00"].data, written["SKU-05"].data);
    assert_ne!(written["SKU-00"].data, written["SKU-01"].data);

    // a catalogue whose image column has another name: a clear error, no empty features file
    let none = dir.join("none.safetensors");
    let (ok, _, stderr) =
        features_run(&["--image-column", "photo", "--out", none.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("no row names an image in column `photo`"), "{stderr}");
    assert!(!dir.join("none.safetensors").exists());

    let prepared = dir.join("prepared");
    let (ok, stdout, stderr) = trainer(&[
        "prepare",
        "--interactions",
        dir.join("orders.csv").to_str().unwrap(),
        "--user-column",
        "customer",
        "--item-column",
        "sku",
        "--time-column",
        "ordered_at",
        "--catalog",
        dir.join("products.csv").to_str().unwrap(),
        "--catalog-item-column",
        "product",
        "--features",
        features.to_str().unwrap(),
        "--reindex-seed",
        "1",
        "--out",
        prepared.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    // 79 customers with 5..8 distinct products (C079 has 2, under the 5-core); 24 products
    assert!(stdout.contains("79 users, 24 items"), "{stdout}");
    assert!(stdout.contains("24 titles"), "{stdout}");
    assert!(stdout.contains("features: 16-d for 20 items"), "{stdout}");
    for counted in [
        "warning: 1 rows with an empty user id",
        "warning: 80 repeat purchases (collapsed to the first)",
        "warning: 1 catalogue items without an interaction (not recommendable)",
        "warning: 2 interactions of a user with fewer than 5 (k-core)",
    ] {
        assert!(stderr.contains(counted), "{counted}: {stderr}");
    }
    let items = std::fs::read_to_string(prepared.join("items.tsv")).unwrap();
    assert!(items.contains("\tSKU-04\tThe lip product, no. 4\n"), "{items}");
    // each customer's products in time order: C000 bought SKU-00, 10, 20, 06, 16, then 00 again
    let users = std::fs::read_to_string(prepared.join("users.tsv")).unwrap();
    assert!(users.starts_with("1\tC000\n"), "{users}");
    let keys: Vec<&str> = items.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    let sequences = std::fs::read_to_string(prepared.join("sequences.txt")).unwrap();
    let first: Vec<&str> = sequences
        .lines()
        .next()
        .unwrap()
        .split(' ')
        .skip(1)
        .map(|i| keys[i.parse::<usize>().unwrap() - 1])
        .collect();
    assert_eq!(first, ["SKU-00", "SKU-10", "SKU-20", "SKU-06", "SKU-16"]);

    let run = dir.join("run");
    train_tiny(&prepared, &run);
    let (rows, stdout) = eval_a3(&prepared, &run, "test");
    assert!(rows.iter().any(|r| r["method"] == "co-occurrence" && r["users"] == 79), "{stdout}");
    assert!(rows.iter().any(|r| r["method"] == "vip5 constrained" && r["users"] == 79), "{stdout}");

    let bundle = dir.join("shop-q8_0.gguf");
    let (ok, _, stderr) = trainer(&[
        "export",
        "--model",
        run.to_str().unwrap(),
        "--data",
        prepared.to_str().unwrap(),
        "--quant",
        "q8_0",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let bytes = std::fs::read(&bundle).unwrap();
    let catalog = vip5::bundle::Bundle::from_bytes(&bytes).unwrap().catalog().unwrap();
    assert_eq!(catalog.len(), 24);
    assert!(
        catalog.iter().any(|c| c.key == "SKU-07" && c.title == "The hair product, no. 7"),
        "{catalog:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shop_input_errors_name_the_file_line_and_column() {
    let dir = temp_dir("shop-errors");
    std::fs::write(
        dir.join("orders.csv"),
        "user_id,item_id,timestamp\nu1,a,2024-01-01\nu1,b,soon\n",
    )
    .unwrap();
    let (ok, _, stderr) = trainer(&[
        "prepare",
        "--interactions",
        dir.join("orders.csv").to_str().unwrap(),
        "--out",
        dir.join("p").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(
        stderr.contains("orders.csv line 3, column `timestamp`: `soon` is not a timestamp"),
        "{stderr}"
    );
    let (ok, _, stderr) = trainer(&[
        "prepare",
        "--interactions",
        dir.join("orders.csv").to_str().unwrap(),
        "--min-user-interactions",
        "2",
        "--out",
        dir.join("p").to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("--min-user-interactions must be at least 3"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `prepare --test-after` / `--test-days`: the temporal split a shop asks for ("how would it have
/// done last month"), then train and eval on it. The generated shop's customers buy on 1..8
/// March (C(c) buys 5 + c % 4 products, one a day); the April repeats collapse away.
#[test]
fn a_temporal_split_holds_out_the_purchases_after_the_cutoff() {
    let dir = temp_dir("shop-temporal");
    write_shop(&dir);
    let orders = dir.join("orders.csv");
    let prepare = |out: &Path, split: &[&str]| {
        let mut args = vec![
            "prepare",
            "--interactions",
            orders.to_str().unwrap(),
            "--user-column",
            "customer",
            "--item-column",
            "sku",
            "--time-column",
            "ordered_at",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(split);
        trainer(&args)
    };
    let prepared = dir.join("temporal");
    let (ok, stdout, stderr) = prepare(&prepared, &["--test-after", "2024-03-06"]);
    assert!(ok, "{stderr}");
    // 79 customers: those with 6..8 products (c % 4 != 0: 59) bought on day 6 or later and are
    // evaluated; those with 5 (c % 4 == 0: 20) bought only before it and train only.
    assert!(stdout.contains("59 users evaluated") && stdout.contains("20 train only"), "{stdout}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(prepared.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["temporal"]["cutoff"], 1_709_683_200, "2024-03-06T00:00Z");
    // purchases after each evaluated user's test target: 1 for the 20 customers with 7
    // products (c % 4 == 2), 2 for the 19 with 8 (c % 4 == 3, C079 excluded)
    assert_eq!(manifest["temporal"]["later_purchases_dropped"], 20 + 2 * 19);
    let items = std::fs::read_to_string(prepared.join("items.tsv")).unwrap();
    let keys: Vec<&str> = items.lines().map(|l| l.split('\t').nth(1).unwrap()).collect();
    let training_only: Vec<String> =
        std::fs::read_to_string(prepared.join("training_only_users.txt"))
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
    assert_eq!(training_only.len(), 20);
    for line in std::fs::read_to_string(prepared.join("sequences.txt")).unwrap().lines() {
        let mut fields = line.split(' ');
        let user = fields.next().unwrap().to_string();
        let items: Vec<&str> = fields.map(|i| keys[i.parse::<usize>().unwrap() - 1]).collect();
        // days 1..5 before the cutoff, plus the day-6 purchase (the test target) when there is one
        let want = if training_only.contains(&user) { 5 } else { 6 };
        assert_eq!(items.len(), want, "user {user}: {items:?}");
    }
    // C001 (user 2): its day-6 purchase, SKU-05, is its test target
    let c001 = std::fs::read_to_string(prepared.join("sequences.txt")).unwrap();
    let c001: Vec<&str> = c001.lines().nth(1).unwrap().split(' ').skip(1).collect();
    assert_eq!(keys[c001[5].parse::<usize>().unwrap() - 1], "SKU-05");

    let run = dir.join("run");
    train_tiny(&prepared, &run);
    for split in ["val", "test"] {
        let (rows, stdout) = eval_a3(&prepared, &run, split);
        assert!(!rows.is_empty());
        // only the evaluated users, for the model and every baseline
        assert!(rows.iter().all(|r| r["users"] == 59), "{split}: {stdout}");
    }

    // The last N days: the cutoff is N days before the newest purchase (2024-03-08T10:59Z).
    let days = dir.join("days");
    let (ok, _, stderr) = prepare(&days, &["--test-days", "3"]);
    assert!(ok, "{stderr}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(days.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["temporal"]["cutoff"], 1_709_895_540 - 3 * 86_400);
    // Leave-one-out into the same folder: no training-only list is left behind.
    let (ok, _, stderr) = prepare(&days, &[]);
    assert!(ok, "{stderr}");
    assert!(!days.join("training_only_users.txt").exists());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(days.join("manifest.json")).unwrap())
            .unwrap();
    assert!(manifest.get("temporal").is_none(), "{manifest}");

    // Clear errors: a cutoff after every purchase, an unreadable date.
    let (ok, _, stderr) = prepare(&dir.join("late"), &["--test-after", "2030-01-01"]);
    assert!(!ok && stderr.contains("nothing to test"), "{stderr}");
    let (ok, _, stderr) = prepare(&dir.join("bad"), &["--test-after", "last month"]);
    assert!(!ok && stderr.contains("--test-after `last month`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
