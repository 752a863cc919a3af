//! The HTTP API's contract: happy paths and shapes of every route, and the
//! error answers for auth, bodies, unknown rooms and routes.

use crate::common::{ResponseJson, error_of, fast, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_rooms_and_subrooms_have_the_documented_shapes() {
    let server = start(fast()).await;
    let response = server
        .send(
            Method::POST,
            "/api/users",
            None,
            Some(json!({ "name": "ada" })),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json_value().await;
    assert_eq!(user["name"], "ada");
    assert!(user["id"].is_u64());
    let token = user["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));

    let response = server
        .post("/api/rooms", token, json!({ "name": "main" }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let main: Value = response.json_value().await;
    assert_eq!(main["name"], "main");
    assert_eq!(main["parent_id"], Value::Null);
    let main_id = main["id"].as_u64().unwrap();

    let path = format!("/api/rooms/{main_id}/subrooms");
    let response = server.post(&path, token, json!({ "name": "side" })).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let sub: Value = response.json_value().await;
    assert_eq!(sub["parent_id"], main_id);

    let response = server.get("/api/rooms", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let rooms: Value = response.json_value().await;
    assert_eq!(rooms, json!([main, sub]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_of_other_users_are_invisible() {
    let server = start(fast()).await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.room(&alice, None).await;
    let rooms: Value = server.get("/api/rooms", &bob).await.json_value().await;
    assert_eq!(rooms, json!([]));
    let path = format!("/api/rooms/{room}/subrooms");
    let response = server.post(&path, &bob, json!({ "name": "x" })).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(response).await, format!("no room {room}"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_unknown_token_is_401_with_bearer_challenge() {
    let server = start(fast()).await;
    let wrong = "0123456789abcdef0123456789abcdef";
    for token in [None, Some(wrong)] {
        let response = server.send(Method::GET, "/api/rooms", token, None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(error_of(response).await, "missing or invalid bearer token");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_400_with_the_reason() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let url = format!("{}/api/rooms", server.base);
    let cases = [
        ("application/json", "{not json", "key must be a string"),
        (
            "application/json",
            "{\"title\": \"x\"}",
            "missing field `name`",
        ),
        ("application/json", "[1]", "invalid type"),
        (
            "text/plain",
            "{\"name\": \"x\"}",
            "expected content-type application/json",
        ),
    ];
    for (content_type, body, reason) in cases {
        let response = server
            .client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error = error_of(response).await;
        assert!(error.starts_with("invalid JSON body: "), "{error}");
        assert!(error.contains(reason), "{error}");
    }

    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20));
    let response = server
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_rooms_are_404_on_every_room_route() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    for path in [
        "/api/rooms/999/subrooms",
        "/api/rooms/999/messages",
        "/api/rooms/999/reviews",
    ] {
        let body = json!({ "name": "x", "content": "hi" });
        let response = server.post(path, &token, body).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error_of(response).await, "no room 999");
    }
    let response = server
        .post(
            "/api/rooms/abc/messages",
            &token,
            json!({ "content": "hi" }),
        )
        .await;
    assert_eq!(error_of(response).await, "no room abc");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_of_a_main_room_is_409() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let room = server.room(&token, None).await;
    let response = server
        .send(
            Method::POST,
            &format!("/api/rooms/{room}/reviews"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let expected = format!("reviews run on sub-rooms; room {room} is a main room");
    assert_eq!(error_of(response).await, expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_is_202_with_location_and_private_to_its_owner() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let main = server.room(&token, None).await;
    let sub = server.room(&token, Some(main)).await;
    let path = format!("/api/rooms/{sub}/reviews");
    let response = server.send(Method::POST, &path, Some(&token), None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let review: Value = response.json_value().await;
    let id = review["id"].as_u64().unwrap();
    assert_eq!(
        review,
        json!({ "id": id, "room_id": sub, "status": "queued" })
    );
    assert_eq!(location, format!("/api/reviews/{id}"));

    let status: Value = server.get(&location, &token).await.json_value().await;
    assert_eq!(status["id"], id);
    assert_eq!(status["room_id"], sub);
    assert_eq!(status["calls_total"], 2);
    for field in ["status", "calls_done", "queued_ms", "error"] {
        assert!(status.get(field).is_some(), "{field} missing in {status}");
    }

    let other = server.user("eve").await;
    let response = server.get(&location, &other).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(response).await, format!("no review {id}"));
    let response = server.get("/api/reviews/777", &token).await;
    assert_eq!(error_of(response).await, "no review 777");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let server = start(fast()).await;
    let token = server.user("ada").await;
    let response = server.get("/api/nowhere", &token).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_of(response).await, "no route for GET /api/nowhere");
    let response = server
        .send(Method::DELETE, "/api/rooms", Some(&token), None)
        .await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(error_of(response).await.contains("DELETE"));
    server.stop().await;
}
