def test_local_session_runs_a_job(spark):
    assert spark.sparkContext.master == "local[2]"
    assert spark.range(10).selectExpr("sum(id) AS s").first().s == 45
