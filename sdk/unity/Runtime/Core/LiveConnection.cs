// Live updates over GET /v1/ws (System.Net.WebSockets.ClientWebSocket): the
// game key goes as the subprotocol "bm.auth.<key>" next to "brightmatter.v1",
// channels are subscribed again after every reconnect (with backoff), and a
// per-channel seq gap (or a reconnect) is reported as Gap = true so the game
// refetches. Handlers run on the receive thread: the Unity glue hands them to
// the main thread.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace BrightMatter
{
    public sealed class LiveConnection : IDisposable
    {
        readonly string url, apiKey;
        readonly object gate = new object();
        readonly Dictionary<string, List<Action<LiveUpdate>>> handlers = new Dictionary<string, List<Action<LiveUpdate>>>();
        readonly Dictionary<string, long> seqs = new Dictionary<string, long>();
        readonly CancellationTokenSource stop = new CancellationTokenSource();
        readonly SemaphoreSlim sendLock = new SemaphoreSlim(1, 1);
        ClientWebSocket ws;
        Task loop;

        /// <summary>True while the socket is open.</summary>
        public bool Connected { get; private set; }
        /// <summary>Errors the server sent (refused channels, ...), for logging.</summary>
        public event Action<string> OnError;

        public LiveConnection(string baseUrl, string apiKey)
        {
            url = (baseUrl.StartsWith("https", StringComparison.OrdinalIgnoreCase) ? "wss" : "ws") +
                  baseUrl.Substring(baseUrl.IndexOf(':')) + "/v1/ws";
            this.apiKey = apiKey;
        }

        /// <summary>Calls handler for every update on channel (campaign:&lt;id&gt;, user:&lt;id&gt;).
        /// Dispose the result to stop.</summary>
        public IDisposable Subscribe(string channel, Action<LiveUpdate> handler)
        {
            bool first;
            lock (gate)
            {
                List<Action<LiveUpdate>> list;
                first = !handlers.TryGetValue(channel, out list);
                if (first) handlers[channel] = list = new List<Action<LiveUpdate>>();
                list.Add(handler);
                if (loop == null) loop = Task.Run(Run);
            }
            if (first) Send(new JObject { ["type"] = "subscribe", ["channel"] = channel });
            return new Subscription(this, channel, handler);
        }

        sealed class Subscription : IDisposable
        {
            readonly LiveConnection c;
            readonly string channel;
            readonly Action<LiveUpdate> handler;

            public Subscription(LiveConnection c, string channel, Action<LiveUpdate> handler)
            {
                this.c = c;
                this.channel = channel;
                this.handler = handler;
            }

            public void Dispose()
            {
                bool last = false;
                lock (c.gate)
                {
                    List<Action<LiveUpdate>> list;
                    if (c.handlers.TryGetValue(channel, out list) && list.Remove(handler) && list.Count == 0)
                    {
                        c.handlers.Remove(channel);
                        c.seqs.Remove(channel);
                        last = true;
                    }
                }
                if (last) c.Send(new JObject { ["type"] = "unsubscribe", ["channel"] = channel });
            }
        }

        void Send(JObject m)
        {
            var s = ws;
            if (s == null || s.State != WebSocketState.Open) return; // sent on (re)connect
            var bytes = Encoding.UTF8.GetBytes(m.ToString(Formatting.None));
            Task.Run(async () =>
            {
                await sendLock.WaitAsync().ConfigureAwait(false);
                try
                {
                    await s.SendAsync(new ArraySegment<byte>(bytes), WebSocketMessageType.Text, true, stop.Token)
                           .ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // the receive loop notices the broken socket and reconnects
                }
                finally
                {
                    sendLock.Release();
                }
            });
        }

        async Task Run()
        {
            var delay = TimeSpan.Zero;
            while (!stop.IsCancellationRequested)
            {
                if (delay > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(delay, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
                delay = TimeSpan.FromMilliseconds(Math.Min(30000, Math.Max(500, delay.TotalMilliseconds * 2)));
                var s = new ClientWebSocket();
                s.Options.AddSubProtocol("brightmatter.v1");
                s.Options.AddSubProtocol("bm.auth." + apiKey);
                try
                {
                    await s.ConnectAsync(new Uri(url), stop.Token).ConfigureAwait(false);
                }
                catch (Exception)
                {
                    s.Dispose();
                    continue;
                }
                ws = s;
                Connected = true;
                delay = TimeSpan.Zero;
                string[] channels;
                lock (gate)
                {
                    channels = handlers.Keys.ToArray();
                    seqs.Clear();
                }
                if (channels.Length > 0) Send(new JObject { ["type"] = "subscribe", ["channels"] = new JArray(channels) });
                foreach (var ch in channels) Dispatch(new LiveUpdate { Type = "resync", Channel = ch, Gap = true });
                await Receive(s).ConfigureAwait(false);
                Connected = false;
                ws = null;
                s.Dispose();
            }
        }

        async Task Receive(ClientWebSocket s)
        {
            var buf = new byte[65536];
            var msg = new List<byte>();
            try
            {
                while (s.State == WebSocketState.Open && !stop.IsCancellationRequested)
                {
                    var r = await s.ReceiveAsync(new ArraySegment<byte>(buf), stop.Token).ConfigureAwait(false);
                    if (r.MessageType == WebSocketMessageType.Close) break;
                    msg.AddRange(new ArraySegment<byte>(buf, 0, r.Count));
                    if (!r.EndOfMessage) continue;
                    var text = Encoding.UTF8.GetString(msg.ToArray());
                    msg.Clear();
                    Handle(text);
                }
            }
            catch (Exception)
            {
                // closed or broken: reconnect
            }
        }

        void Handle(string text)
        {
            JObject m;
            try
            {
                m = JObject.Parse(text);
            }
            catch (JsonException)
            {
                return;
            }
            var type = (string)m["type"];
            var channel = (string)m["channel"];
            if (type == "error")
            {
                OnError?.Invoke((string)m["error"] + ": " + (string)m["message"] + (channel != null ? " (" + channel + ")" : ""));
                return;
            }
            if (channel == null) return;
            long seq = (long?)m["seq"] ?? 0;
            bool gap;
            lock (gate)
            {
                if (!handlers.ContainsKey(channel)) return;
                long last;
                bool known = seqs.TryGetValue(channel, out last);
                seqs[channel] = seq;
                if (type == "subscribed") return;
                gap = known && seq != last + 1;
            }
            if (!(m["payload"] is JObject)) return;
            Dispatch(new LiveUpdate
            {
                Type = type,
                Channel = channel,
                Seq = seq,
                Ts = (long?)m["ts"] ?? 0,
                Payload = (JObject)m["payload"],
                Gap = gap,
            });
        }

        void Dispatch(LiveUpdate u)
        {
            Action<LiveUpdate>[] list;
            lock (gate)
            {
                List<Action<LiveUpdate>> l;
                if (!handlers.TryGetValue(u.Channel, out l)) return;
                list = l.ToArray();
            }
            foreach (var h in list) h(u);
        }

        public void Dispose()
        {
            stop.Cancel();
            var s = ws;
            if (s != null && s.State == WebSocketState.Open)
            {
                try
                {
                    s.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None).Wait(1000);
                }
                catch (Exception)
                {
                    // already gone
                }
            }
            try
            {
                loop?.Wait(2000);
            }
            catch (AggregateException)
            {
                // cancelled
            }
        }
    }
}
