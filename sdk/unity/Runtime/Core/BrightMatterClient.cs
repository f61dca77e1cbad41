// The plain C# core of the BrightMatter Unity package (no UnityEngine): track
// events into the persistent queue with an eventId each, send them in batches
// with exponential backoff and the same ids on every retry, read boards and
// progress, and subscribe to live channels.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace BrightMatter
{
    public sealed class BrightMatterOptions
    {
        public string BaseUrl;
        public string ApiKey;
        public string GameId;
        /// <summary>The player events are for unless Track names another.</summary>
        public string UserId;
        /// <summary>Where the queue lives (Unity: Application.persistentDataPath + "/brightmatter").</summary>
        public string QueueDirectory;
        public int BatchSize = 50;
        public int MaxQueue = 10000;
        /// <summary>Sync the queue file on every event (survives power loss).</summary>
        public bool Fsync = true;
        public TimeSpan MinBackoff = TimeSpan.FromMilliseconds(500);
        public TimeSpan MaxBackoff = TimeSpan.FromSeconds(60);
        /// <summary>Tries of one batch within one FlushAsync.</summary>
        public int MaxAttempts = 4;
        public TimeSpan Timeout = TimeSpan.FromSeconds(10);
    }

    public sealed class BrightMatterClient : IDisposable
    {
        readonly BrightMatterOptions o;
        readonly IHttpTransport http;
        readonly bool ownsHttp;
        readonly EventQueue queue;
        readonly SemaphoreSlim sending = new SemaphoreSlim(1, 1);
        TimeSpan backoff = TimeSpan.Zero;
        DateTime nextTry = DateTime.MinValue;
        LiveConnection live;

        public BrightMatterClient(BrightMatterOptions options, IHttpTransport transport = null)
        {
            if (options == null) throw new ArgumentNullException(nameof(options));
            if (string.IsNullOrEmpty(options.BaseUrl) || string.IsNullOrEmpty(options.ApiKey) ||
                string.IsNullOrEmpty(options.GameId) || string.IsNullOrEmpty(options.QueueDirectory))
                throw new ArgumentException("BaseUrl, ApiKey, GameId and QueueDirectory are required");
            o = options;
            o.BaseUrl = o.BaseUrl.TrimEnd('/');
            http = transport ?? new HttpClientTransport(o.Timeout);
            ownsHttp = transport == null;
            queue = new EventQueue(o.QueueDirectory, o.MaxQueue, o.Fsync);
        }

        public BrightMatterOptions Options => o;
        public int Pending => queue.Count;
        public long Dropped => queue.Dropped;
        public long Sent { get; private set; }
        public long Rejected { get; private set; }
        /// <summary>When the next automatic send may be tried (after a failure).</summary>
        public DateTime NextTryUtc => nextTry;

        internal IDictionary<string, string> Headers()
        {
            return new Dictionary<string, string> { { "Authorization", "Bearer " + o.ApiKey } };
        }

        /// <summary>Queues an event (on disk when this returns); returns its eventId.</summary>
        public string Track(string eventType, IDictionary<string, object> data = null, string userId = null)
        {
            if (string.IsNullOrEmpty(eventType)) throw new ArgumentException("eventType is required");
            var user = userId ?? o.UserId;
            if (string.IsNullOrEmpty(user)) throw new ArgumentException("userId is required (options.UserId or Track(..., userId))");
            var id = Guid.NewGuid().ToString();
            var ev = new JObject
            {
                ["eventId"] = id,
                ["gameId"] = o.GameId,
                ["userId"] = user,
                ["eventType"] = eventType,
                ["data"] = data != null ? JObject.FromObject(data) : new JObject(),
                ["timestamp"] = DateTime.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
                ["source"] = "unity-sdk",
            };
            queue.Append(ev.ToString(Formatting.None));
            return id;
        }

        /// <summary>Sends everything queued now, in batches, retrying with backoff up to
        /// MaxAttempts; what could not be sent stays queued (Error says why).</summary>
        public async Task<FlushResult> FlushAsync(CancellationToken ct = default(CancellationToken))
        {
            var r = new FlushResult();
            await sending.WaitAsync(ct).ConfigureAwait(false);
            try
            {
                int attempts = 0, size = Math.Max(1, o.BatchSize);
                for (;;)
                {
                    long end;
                    var batch = queue.Peek(size, out end);
                    if (batch.Count == 0) break;
                    var body = "{\"events\":[" + string.Join(",", batch) + "]}";
                    HttpResult res = null;
                    string why;
                    try
                    {
                        res = await http.SendAsync("POST", o.BaseUrl + "/v1/events?partial=1", Headers(), body, ct)
                                        .ConfigureAwait(false);
                        why = "HTTP " + res.Status;
                    }
                    catch (Exception e) when (!(e is OperationCanceledException) || !ct.IsCancellationRequested)
                    {
                        why = e.Message;
                    }
                    if (res != null && (res.Status == 202 || res.Status == 400))
                    {
                        int bad = 0;
                        try
                        {
                            var arr = JObject.Parse(res.Body)["events"] as JArray;
                            bad = arr != null ? arr.Count : res.Status == 400 ? batch.Count : 0;
                        }
                        catch (JsonException)
                        {
                            bad = res.Status == 400 ? batch.Count : 0;
                        }
                        queue.Remove(end, batch.Count);
                        r.Sent += batch.Count - bad;
                        r.Rejected += bad;
                        Sent += batch.Count - bad;
                        Rejected += bad;
                        backoff = TimeSpan.Zero;
                        nextTry = DateTime.MinValue;
                        attempts = 0;
                        r.Error = null; /* a failure that a retry got through is no error */
                        continue;
                    }
                    if (res != null && res.Status == 413 && size > 1)
                    {
                        size /= 2;
                        continue;
                    }
                    r.Error = why;
                    backoff = backoff == TimeSpan.Zero ? o.MinBackoff
                            : TimeSpan.FromTicks(Math.Min(o.MaxBackoff.Ticks, backoff.Ticks * 2));
                    var wait = TimeSpan.FromTicks((long)(backoff.Ticks * (0.5 + Jitter() / 2)));
                    int ra;
                    if (res != null && int.TryParse(res.RetryAfter, out ra) && ra > wait.TotalSeconds)
                        wait = TimeSpan.FromSeconds(ra);
                    nextTry = DateTime.UtcNow + wait;
                    if (++attempts >= o.MaxAttempts) break;
                    await Task.Delay(wait, ct).ConfigureAwait(false);
                }
            }
            finally
            {
                sending.Release();
            }
            r.Pending = queue.Count;
            return r;
        }

        static readonly Random rng = new Random();

        static double Jitter()
        {
            lock (rng) return rng.NextDouble();
        }

        async Task<HttpResult> GetAsync(string path, CancellationToken ct)
        {
            return await http.SendAsync("GET", o.BaseUrl + path, Headers(), null, ct).ConfigureAwait(false);
        }

        static string Seg(string s)
        {
            return Uri.EscapeDataString(s);
        }

        /// <summary>The top of a leaderboard or tournament.</summary>
        public async Task<Board> GetLeaderboardAsync(string campaignId, int limit = 10,
                                                     CancellationToken ct = default(CancellationToken))
        {
            var res = await GetAsync("/v1/leaderboards/" + Seg(campaignId) + "?limit=" + limit, ct).ConfigureAwait(false);
            if (res.Status != 200) throw new BrightMatterException(res.Status, res.Body);
            var j = JObject.Parse(res.Body);
            var b = new Board { Name = (string)j["name"] };
            foreach (var e in (JArray)j["entries"] ?? new JArray()) b.Entries.Add(Entry(e));
            return b;
        }

        /// <summary>One player's rank and score, or null when the player has none.</summary>
        public async Task<BoardEntry> GetRankAsync(string campaignId, string userId,
                                                   CancellationToken ct = default(CancellationToken))
        {
            var res = await GetAsync("/v1/leaderboards/" + Seg(campaignId) + "/users/" + Seg(userId), ct).ConfigureAwait(false);
            if (res.Status == 404) return null;
            if (res.Status != 200) throw new BrightMatterException(res.Status, res.Body);
            return Entry(JObject.Parse(res.Body));
        }

        /// <summary>A quest's progress for a player as JSON, or null (404).</summary>
        public Task<JObject> GetQuestAsync(string questId, string userId, CancellationToken ct = default(CancellationToken))
        {
            return GetJsonAsync("/v1/quests/" + Seg(questId) + "/users/" + Seg(userId), ct);
        }

        /// <summary>A battle pass's progress for a player as JSON, or null (404).</summary>
        public Task<JObject> GetBattlePassAsync(string passId, string userId, CancellationToken ct = default(CancellationToken))
        {
            return GetJsonAsync("/v1/battlepasses/" + Seg(passId) + "/users/" + Seg(userId), ct);
        }

        /// <summary>Any GET of the query API; null on 404.</summary>
        public async Task<JObject> GetJsonAsync(string path, CancellationToken ct = default(CancellationToken))
        {
            var res = await GetAsync(path, ct).ConfigureAwait(false);
            if (res.Status == 404) return null;
            if (res.Status != 200) throw new BrightMatterException(res.Status, res.Body);
            return JObject.Parse(res.Body);
        }

        static BoardEntry Entry(JToken e)
        {
            return new BoardEntry
            {
                Rank = (long?)e["rank"] ?? 0,
                UserId = (string)e["userId"],
                Score = (double?)e["score"] ?? 0,
            };
        }

        /// <summary>The live connection (opened on the first Subscribe).</summary>
        public LiveConnection Live
        {
            get
            {
                lock (sending) return live ?? (live = new LiveConnection(o.BaseUrl, o.ApiKey));
            }
        }

        public void Dispose()
        {
            live?.Dispose();
            queue.Dispose();
            if (ownsHttp) ((IDisposable)http).Dispose();
        }
    }

    public sealed class BrightMatterException : Exception
    {
        public int Status { get; }

        public BrightMatterException(int status, string body) : base("BrightMatter: HTTP " + status + ": " + body)
        {
            Status = status;
        }
    }
}
