// BrightMatterManager: the MonoBehaviour over the plain core. Put it on a
// GameObject, fill in the inspector fields, and call Track from anywhere.
// The queue lives under Application.persistentDataPath, so events tracked
// offline or before a crash are sent on a later run; sends happen in the
// background every flushInterval seconds (and when the app is paused or
// quits); live updates are delivered on the main thread in Update.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Threading.Tasks;
using UnityEngine;

namespace BrightMatter
{
    [DisallowMultipleComponent]
    public sealed class BrightMatterManager : MonoBehaviour
    {
        public static BrightMatterManager Instance { get; private set; }

        [Tooltip("The gateway, e.g. https://api.example.com")] public string baseUrl;
        [Tooltip("The game's API key (bmk_...)")] public string apiKey;
        [Tooltip("The game's identifier")] public string gameId;
        [Tooltip("The player; can be set later with SetUser")] public string userId;
        [Tooltip("Seconds between background sends")] public float flushInterval = 2f;
        public int batchSize = 50;
        public int maxQueue = 10000;
        public bool dontDestroyOnLoad = true;

        public BrightMatterClient Client { get; private set; }

        readonly ConcurrentQueue<Action> mainThread = new ConcurrentQueue<Action>();
        float nextFlush;
        Task<FlushResult> flushing;

        void Awake()
        {
            if (Instance != null && Instance != this)
            {
                Destroy(gameObject);
                return;
            }
            Instance = this;
            if (dontDestroyOnLoad) DontDestroyOnLoad(gameObject);
            Client = new BrightMatterClient(new BrightMatterOptions
            {
                BaseUrl = baseUrl,
                ApiKey = apiKey,
                GameId = gameId,
                UserId = string.IsNullOrEmpty(userId) ? null : userId,
                QueueDirectory = Path.Combine(Application.persistentDataPath, "brightmatter", gameId),
                BatchSize = batchSize,
                MaxQueue = maxQueue,
            });
            Client.Live.OnError += e => mainThread.Enqueue(() => Debug.LogWarning("BrightMatter live: " + e));
        }

        public void SetUser(string id)
        {
            userId = id;
            Client.Options.UserId = id;
        }

        /// <summary>Queues an event (kept on disk until the gateway accepted it); returns its eventId.</summary>
        public string Track(string eventType, IDictionary<string, object> data = null)
        {
            var id = Client.Track(eventType, data);
            if (nextFlush > Time.unscaledTime + 0.5f) nextFlush = Time.unscaledTime + 0.5f;
            return id;
        }

        /// <summary>Calls handler on the main thread for each update of channel.</summary>
        public IDisposable Subscribe(string channel, Action<LiveUpdate> handler)
        {
            return Client.Live.Subscribe(channel, u => mainThread.Enqueue(() => handler(u)));
        }

        void Update()
        {
            Action a;
            while (mainThread.TryDequeue(out a)) a();
            if (Time.unscaledTime < nextFlush || (flushing != null && !flushing.IsCompleted)) return;
            nextFlush = Time.unscaledTime + Mathf.Max(0.1f, flushInterval);
            if (Client.Pending > 0 && DateTime.UtcNow >= Client.NextTryUtc)
                flushing = Client.FlushAsync();
        }

        void OnApplicationPause(bool paused)
        {
            if (paused && Client != null && Client.Pending > 0) flushing = Client.FlushAsync();
        }

        void OnDestroy()
        {
            if (Instance != this) return;
            Instance = null;
            if (Client == null) return;
            // One quick try; whatever is not sent stays queued for the next run.
            if (Client.Pending > 0) Client.FlushAsync().Wait(TimeSpan.FromSeconds(2));
            Client.Dispose();
        }
    }
}
