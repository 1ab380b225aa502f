//! Blocking senders for Meta and TikTok: batching, retries with backoff, one pooled client.
// OWNED BY THE SENDER WORK: see the contract in the task.
pub struct AccessToken;
pub struct MetaSender;
pub struct TikTokSender;
pub struct SendResult;
pub struct SenderConfig;
pub enum Platform {}
