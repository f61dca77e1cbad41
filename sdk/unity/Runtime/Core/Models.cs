using System.Collections.Generic;
using Newtonsoft.Json.Linq;

namespace BrightMatter
{
    public sealed class BoardEntry
    {
        public long Rank;
        public string UserId;
        public double Score;
    }

    public sealed class Board
    {
        public string Name;
        public List<BoardEntry> Entries = new List<BoardEntry>();
    }

    /// <summary>One message of a live channel: type (leaderboard_update, quest_progress, ...),
    /// channel, per-channel seq, broker timestamp (ms) and payload.</summary>
    public sealed class LiveUpdate
    {
        public string Type;
        public string Channel;
        public long Seq;
        public long Ts;
        public JObject Payload;
        /// <summary>Updates were missed before this one (or the connection was re-established):
        /// refetch what this channel shows.</summary>
        public bool Gap;
    }

    public sealed class FlushResult
    {
        public int Sent;
        public int Rejected;
        public int Pending;
        /// <summary>Why the last send failed (events stay queued), or null.</summary>
        public string Error;
    }
}
