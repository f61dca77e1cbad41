// Basic sample: tracks a match when Space is pressed, shows the top 5 of a
// leaderboard in the console and logs its live updates.
using System.Collections.Generic;
using BrightMatter;
using UnityEngine;

public sealed class BasicSample : MonoBehaviour
{
    public string leaderboardId;

    async void Start()
    {
        var bm = BrightMatterManager.Instance;
        bm.Subscribe("campaign:" + leaderboardId, u => Debug.Log($"{u.Type} #{u.Seq}: {u.Payload}"));
        var board = await bm.Client.GetLeaderboardAsync(leaderboardId, 5);
        foreach (var e in board.Entries) Debug.Log($"{e.Rank}. {e.UserId} {e.Score}");
    }

    void Update()
    {
        if (Input.GetKeyDown(KeyCode.Space))
            BrightMatterManager.Instance.Track("MATCH_END", new Dictionary<string, object> { { "score", 100 }, { "kills", 3 } });
    }
}
