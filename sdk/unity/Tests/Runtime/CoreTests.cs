// Tests of the plain core against a running BrightMatter (BM_URL, BM_KEY,
// BM_BOARD: a sum leaderboard of MATCH_END.score on game gw-game). In CI they
// run under Mono (tests/e2e/live/test_unity_core.c); in the Unity editor they
// are skipped unless those variables are set.
using System;
using System.Collections.Generic;
using System.IO;
using System.Threading;
using System.Threading.Tasks;
using BrightMatter;
using NUnit.Framework;

[TestFixture]
public class CoreTests
{
    string url, key, board, dir;

    [SetUp]
    public void SetUp()
    {
        url = Environment.GetEnvironmentVariable("BM_URL");
        key = Environment.GetEnvironmentVariable("BM_KEY");
        board = Environment.GetEnvironmentVariable("BM_BOARD");
        if (string.IsNullOrEmpty(url)) Assert.Ignore("BM_URL is not set: no engine to test against");
        dir = Path.Combine(Path.GetTempPath(), "bm-unity-" + Guid.NewGuid().ToString("N"));
    }

    [TearDown]
    public void TearDown()
    {
        if (dir != null && Directory.Exists(dir)) Directory.Delete(dir, true);
    }

    BrightMatterClient Client(string baseUrl = null, int maxQueue = 10000, IHttpTransport http = null)
    {
        return new BrightMatterClient(new BrightMatterOptions
        {
            BaseUrl = baseUrl ?? url,
            ApiKey = key,
            GameId = "gw-game",
            QueueDirectory = dir,
            MaxQueue = maxQueue,
            MinBackoff = TimeSpan.FromMilliseconds(50),
            MaxAttempts = 2,
            Timeout = TimeSpan.FromSeconds(3),
        }, http);
    }

    static Dictionary<string, object> Score(int s)
    {
        return new Dictionary<string, object> { { "score", s } };
    }

    async Task<double> WaitScore(BrightMatterClient c, string user, double want)
    {
        BoardEntry e = null;
        for (int i = 0; i < 100; i++)
        {
            e = await c.GetRankAsync(board, user);
            if (e != null && e.Score == want) return e.Score;
            await Task.Delay(100);
        }
        Assert.Fail(user + " never reached " + want + " (now " + (e == null ? "none" : e.Score.ToString()) + ")");
        return 0;
    }

    [Test]
    public async Task TrackedEventsReachTheBoardOnce()
    {
        using (var c = Client())
        {
            var ids = new HashSet<string>();
            for (int i = 0; i < 5; i++) ids.Add(c.Track("MATCH_END", Score(2), "unity-u1"));
            Assert.AreEqual(5, ids.Count);
            Assert.AreEqual(5, c.Pending);
            var r = await c.FlushAsync();
            Assert.IsNull(r.Error);
            Assert.AreEqual(5, r.Sent);
            Assert.AreEqual(0, c.Pending);
            await WaitScore(c, "unity-u1", 10);
            var b = await c.GetLeaderboardAsync(board, 50);
            Assert.AreEqual("gw board", b.Name);
            Assert.IsTrue(b.Entries.Exists(e => e.UserId == "unity-u1" && e.Score == 10));
        }
    }

    [Test]
    public async Task EventsWaitOnDiskWhileTheGatewayIsDown()
    {
        using (var down = Client("http://127.0.0.1:1"))
        {
            for (int i = 0; i < 3; i++) down.Track("MATCH_END", Score(1), "unity-u2");
            var r = await down.FlushAsync();
            Assert.IsNotNull(r.Error);
            Assert.AreEqual(3, r.Pending);
        }
        using (var up = Client())
        {
            Assert.AreEqual(3, up.Pending, "the queue survived the restart");
            var r = await up.FlushAsync();
            Assert.IsNull(r.Error);
            Assert.AreEqual(3, r.Sent);
            await WaitScore(up, "unity-u2", 3);
        }
    }

    // A transport whose first answer is lost after the gateway received the request.
    sealed class LoseFirstAnswer : IHttpTransport
    {
        readonly IHttpTransport real = new HttpClientTransport(TimeSpan.FromSeconds(5));
        public int Posts;

        public async Task<HttpResult> SendAsync(string method, string u, IDictionary<string, string> h, string body,
                                                CancellationToken ct)
        {
            var r = await real.SendAsync(method, u, h, body, ct);
            if (method == "POST" && ++Posts == 1) throw new IOException("connection reset (answer lost)");
            return r;
        }
    }

    [Test]
    public async Task ARetryAfterALostAnswerCountsOnce()
    {
        var lose = new LoseFirstAnswer();
        using (var c = Client(null, 10000, lose))
        {
            for (int i = 0; i < 4; i++) c.Track("MATCH_END", Score(5), "unity-u3");
            var r = await c.FlushAsync();
            Assert.IsNull(r.Error);
            Assert.AreEqual(2, lose.Posts, "sent twice");
            await WaitScore(c, "unity-u3", 20);
            await Task.Delay(1000);
            Assert.AreEqual(20, (await c.GetRankAsync(board, "unity-u3")).Score);
        }
    }

    [Test]
    public void TheQueueIsCappedOldestFirst()
    {
        using (var c = Client("http://127.0.0.1:1", 3))
        {
            for (int i = 0; i < 5; i++) c.Track("MATCH_END", Score(i), "unity-u4");
            Assert.AreEqual(3, c.Pending);
            Assert.AreEqual(2, c.Dropped);
        }
    }

    [Test]
    public async Task LiveUpdatesArriveOverTheWebSocket()
    {
        using (var c = Client())
        {
            var got = new TaskCompletionSource<LiveUpdate>();
            c.Live.Subscribe("campaign:" + board, u =>
            {
                if (u.Type == "leaderboard_update" && u.Payload["entries"].ToString().Contains("unity-live"))
                    got.TrySetResult(u);
            });
            for (int i = 0; i < 50 && !c.Live.Connected; i++) await Task.Delay(100);
            Assert.IsTrue(c.Live.Connected);
            await Task.Delay(300);
            c.Track("MATCH_END", Score(7), "unity-live");
            Assert.IsNull((await c.FlushAsync()).Error);
            var done = await Task.WhenAny(got.Task, Task.Delay(10000));
            Assert.AreSame(got.Task, done, "no live update within 10 s");
            Assert.AreEqual("campaign:" + board, got.Task.Result.Channel);
            Assert.IsTrue(got.Task.Result.Seq >= 1);
        }
    }
}
